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
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LicqError
from ..quantizers.spec import BY_NAME
from ..version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from ..models.resolve import LoadedModel

ZOO_DIR = Path(__file__).resolve().parent
MANIFEST = ZOO_DIR / "manifest.json"


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


def checked_state(e: dict) -> dict:
    """The tensors of a zoo entry's file, refused unless the file matches the manifest's sha256.

    For a finetuned decoder these are only its own tensors, not yet laid over its base.
    """
    from ..models.io import state_dict_from_file  # PyTorch: only when weights are loaded

    path = ZOO_DIR / e["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LicqError(f"weights of zoo model {e['name']!r} are missing ({path})") from None
    if hashlib.sha256(data).hexdigest() != e["sha256"]:
        raise LicqError(f"weights of zoo model {e['name']!r} do not match the manifest's sha256 (tampered?)")
    return state_dict_from_file(path)


@functools.lru_cache(maxsize=16)
def load_zoo(name: str) -> "LoadedModel":
    """Load a zoo model after checking its file's sha256 against the manifest.

    A finetuned decoder (entry with ``base``) is its base model with the
    finetuned tensors (g_s, and h_s where trained) laid over it; it is refused when
    the base was replaced since (``base_digest``): a decoder learnt on another
    encoder's latents would decode silently worse.
    """
    e = entry(name)
    state = checked_state(e)
    if "base" in e:
        base = entry(e["base"])
        if e["base_digest"] != base["digest"]:
            raise LicqError(f"zoo decoder {name!r} was finetuned on another version of {base['name']!r}; "
                            "finetune it again on the shipped weights")
        state = {**checked_state(base), **state}
    from ..models.resolve import prepare
    from .tables import stored_hyperlatent_tables

    return prepare(name, e["arch"], state, stored_hyperlatent_tables(state))


RETIRED = ZOO_DIR / "retired.json"


def zoo_has(name: str, digest: bytes) -> bool:
    """Whether this install's zoo has model ``name`` with these weights (digest from a file's header)."""
    try:
        entry(name)
    except LicqError:
        return False
    return header_digest(name) == digest.hex()


def header_digest(name: str) -> str:
    """The digest (hex) a file coded with zoo model ``name`` carries in its header. A base model's is
    in the manifest; a finetuned decoder's (its base with it laid over) is known only once loaded."""
    e = entry(name)
    return e["digest"] if "digest" in e else load_zoo(name).digest.hex()


def missing_zoo_model(name: str, digest: str, writer: str) -> str:
    """The one-line message for a file whose model this zoo lacks: which release has it."""
    retired = json.loads(RETIRED.read_text())["models"].get(digest)
    where = (f"it ships with licq {retired['release']}" if retired
             else f"decode it with the licq that wrote it ({writer}) or a release whose `licq models` lists it")
    return (f"the file needs zoo model {name} with digest {digest}, written by licq {writer}, and this "
            f"install's zoo (licq {__version__}) does not have it; {where}")


def channel_weights_record(name: str) -> dict | None:
    """A zoo model's measured channel weights (``--weighting channel``), or None (other models,
    or not measured: :mod:`licq.evaluation.calibrate` measures them)."""
    try:
        return entry(name).get("channel_weights")
    except LicqError:
        return None


def model_lambda(name: str) -> float | None:
    """The training λ of a zoo model (a finetuned decoder's is its base's); None for other models."""
    try:
        e = entry(name)
    except LicqError:
        return None
    return e.get("lmbda") if "base" not in e else model_lambda(e["base"])


def lambda_of_weights(digest: str) -> float | None:
    """The training λ of the zoo base model with this digest (16 hex digits); None for any other weights."""
    found = [e["lmbda"] for e in manifest()["models"] if e.get("digest") == digest and "base" not in e]
    return found[0] if found else None


def find_finetuned_variant(base: str, quantizer: str, states: int | None, train: str) -> str | None:
    """Name of the zoo decoder finetuned from ``base`` for this quantizer and training mode, or None."""
    for e in manifest()["models"]:
        d = e.get("decoder_for")
        if (e.get("base") == base and d and not e.get("control") and d["quantizer"] == quantizer
                and e.get("train") == train
                and (quantizer != "tcq" or d["states"] == (states or BY_NAME["tcq"].default_states))):
            return e["name"]
    return None


def finetuned_variant(base: str, quantizer: str, states: int | None, train: str) -> str:
    """:func:`find_finetuned_variant`, refusing when the zoo has no such decoder."""
    name = find_finetuned_variant(base, quantizer, states, train)
    if name is None:
        raise LicqError(f"no decoder finetuned from {base} for {quantizer}"
                        f"{'' if quantizer != 'tcq' else f'-{states or BY_NAME[quantizer].default_states}'} ({train}); "
                        "see `licq models`")
    return name


def selected_decoder(base: str, quantizer: str, states: int | None, finetuned: str | None,
                     quality: float | None = None) -> str | None:
    """The zoo decoder that coding ``base`` with ``quantizer`` lays over it: for ``finetuned="auto"``
    the ``dec`` decoder where the zoo has one, for ``dec`` / ``dec+hyperdec`` that one (refused when
    missing), for None the base model itself (None).

    A variable-rate base's decoder may be adopted for part of the quality range only (its entry's
    ``auto_qualities``, the qualities where it passed the adoption rule): ``"auto"`` then picks it
    only where ``quality`` (default: the model's default quality) lies in that range. Asked for by
    name (``dec``), it codes at any quality.
    """
    if finetuned != "auto":
        return finetuned_variant(base, quantizer, states, finetuned) if finetuned else None
    name = find_finetuned_variant(base, quantizer, states, "dec")
    bounds = name and entry(name).get("auto_qualities")
    if bounds:
        from ..models.channel import DEFAULT_QUALITY

        if not bounds[0] <= (DEFAULT_QUALITY if quality is None else quality) <= bounds[1]:
            return None
    return name


__all__ = ["MANIFEST", "RETIRED", "ZOO_DIR", "channel_weights_record", "entry", "find_finetuned_variant",
           "finetuned_variant", "header_digest", "load_zoo", "manifest", "missing_zoo_model", "model_lambda", "name_for_quality",
           "qualities", "selected_decoder", "zoo_has"]
