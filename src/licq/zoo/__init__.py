"""The model zoo shipped inside the package.

``manifest.json`` lists every model: name, architecture, sizes, λ, quality,
weight file, the file's sha256 (checked before loading: a tampered file is
refused) and how it was trained. Weights are half-precision state dicts read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..entropy import GaussianModel, gaussian_model
from ..errors import LicqError
from ..models import load_weights, model_digest, state_dict_from_file

ZOO_DIR = Path(__file__).resolve().parent
MANIFEST = ZOO_DIR / "manifest.json"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to code: network, entropy model and the identity written to headers."""

    name: str
    digest: bytes  #: first 8 bytes of :func:`~licq.models.model_digest`
    net: nn.Module
    entropy: GaussianModel


def manifest() -> dict:
    """The zoo manifest (``{"default": name, "models": [...]}``)."""
    return json.loads(MANIFEST.read_text())


def entry(name: str) -> dict:
    for m in manifest()["models"]:
        if m["name"] == name:
            return m
    raise LicqError(f"unknown model {name!r}; see `licq models`")


def qualities() -> list[int]:
    """The quality levels of the zoo, ascending (finetuned decoders have ``"quality": null``)."""
    return sorted({m["quality"] for m in manifest()["models"] if m.get("quality") is not None})


def name_for_quality(quality: int) -> str:
    """The zoo model of a quality level; any other value (0, 9, 2.5, "3", True) is a LicqError."""
    integral = isinstance(quality, numbers.Integral) and not isinstance(quality, bool)
    found = [m["name"] for m in manifest()["models"]
             if integral and m.get("quality") is not None and m["quality"] == int(quality)]
    if not found:
        raise LicqError(f"no zoo model of quality {quality!r}; available: {', '.join(map(str, qualities()))}")
    return found[0]


def _prepare(name: str, arch: str, state: dict) -> LoadedModel:
    digest = bytes.fromhex(model_digest(state))[:8]
    net = load_weights(arch, state)
    return LoadedModel(name, digest, net, gaussian_model(net.gaussian_conditional))


def _checked_state(e: dict) -> dict:
    path = ZOO_DIR / e["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LicqError(f"weights of zoo model {e['name']!r} are missing ({path})") from None
    if hashlib.sha256(data).hexdigest() != e["sha256"]:
        raise LicqError(f"weights of zoo model {e['name']!r} do not match the manifest's sha256 (tampered?)")
    return state_dict_from_file(path)


@functools.lru_cache(maxsize=16)
def load_zoo(name: str) -> LoadedModel:
    """Load a zoo model after checking its file's sha256 against the manifest.

    A finetuned decoder (entry with ``base``) is its base model with the
    finetuned tensors (g_s, and h_s where trained) laid over it.
    """
    e = entry(name)
    state = _checked_state(e)
    if "base" in e:
        state = {**_checked_state(entry(e["base"])), **state}
    return _prepare(name, e["arch"], state)


def finetuned_variant(base: str, quantizer: str, states: int | None, train: str) -> str:
    """Name of the zoo decoder finetuned from ``base`` for this quantizer and training mode."""
    for e in manifest()["models"]:
        d = e.get("decoder_for")
        if (e.get("base") == base and d and not e.get("control") and d["quantizer"] == quantizer
                and e.get("train") == train
                and (quantizer != "tcq" or d["states"] == (states or 8))):
            return e["name"]
    raise LicqError(f"no decoder finetuned from {base} for {quantizer}"
                    f"{'' if quantizer != 'tcq' else f'-{states or 8}'} ({train}); see `licq models`")


@functools.lru_cache(maxsize=8)
def load_file(path: str, arch: str) -> LoadedModel:
    """Load a user's weight file (licq or CompressAI state dict) as architecture ``arch``."""
    return _prepare(f"@{arch}", arch, state_dict_from_file(path))


#: Used where a model has no measured TCQ defaults (user weight files, new models).
FALLBACK_TCQ = {"4": {"step": 0.6, "tcq_lambda": 0.02}, "8": {"step": 0.6, "tcq_lambda": 0.02}}


def quantizer_defaults(name: str, quantizer: str, step: float | None, states: int | None,
                       tcq_lambda: float | None) -> dict:
    """Fill unset quantizer parameters: SQ Δ=1; RDOQ Δ=1, λ=(ln 2/6)·Δ²; TCQ from the model's sweep (manifest)."""
    if not name.startswith("@") and "decoder_for" in entry(name):
        # a finetuned decoder only matches the quantizer setting it was trained on (NaN matches nothing)
        d = entry(name)["decoder_for"]
        given = {"step": step, "states": states, "tcq_lambda": tcq_lambda}
        if quantizer != d["quantizer"] or any(v is not None and not abs(v - d[k]) <= 1e-6 for k, v in given.items()):
            raise LicqError(f"{name} is a decoder finetuned for {d['quantizer']} with step {d['step']}, "
                            f"states {d['states']}, tcq-lambda {d['tcq_lambda']}; use that setting or its base "
                            f"model {entry(name)['base']}")
        return {k: d[k] for k in ("step", "states", "tcq_lambda")}
    if quantizer == "rdoq":  # no measured setting: Δ = 1 and λ derived from Δ (licq.quantizers.rdoq)
        from ..quantizers.rdoq import default_lambda

        step = 1.0 if step is None else step
        return {"step": step, "states": states or 0,
                "tcq_lambda": default_lambda(step) if tcq_lambda is None else tcq_lambda}
    if quantizer != "tcq":
        return {"step": 1.0 if step is None else step, "states": states or 0,
                "tcq_lambda": tcq_lambda or 0.0}
    states = states or 8
    table = FALLBACK_TCQ
    if not name.startswith("@"):
        table = entry(name).get("tcq", FALLBACK_TCQ)
    d = table.get(str(states), FALLBACK_TCQ["8"])
    return {"step": d["step"] if step is None else step, "states": states,
            "tcq_lambda": d["tcq_lambda"] if tcq_lambda is None else tcq_lambda}


def resolve(model: str | None = None, quality: int | None = None, arch: str | None = None) -> LoadedModel:
    """Pick a model: a zoo name, a weight-file path (with ``arch``), a quality, or the default."""
    if model is not None and quality is not None:
        raise LicqError("give either a model or a quality, not both")
    if model is None:
        return load_zoo(name_for_quality(quality) if quality is not None else manifest()["default"])
    if Path(model).is_file() or arch is not None:
        if not Path(model).is_file():
            raise LicqError(f"model file not found: {model}")
        return load_file(str(Path(model).resolve()), arch or "mbt2018-mean")
    return load_zoo(model)
