"""Build models by architecture name and move weights in and out of files.

Weights are loaded with ``torch.load(weights_only=True)``: a model file can
never execute code. The CDF tables that CompressAI derives from the weights are
not stored in licq's weight files: the hyper-latent's come from the store shipped
beside the zoo (:mod:`licq.zoo.tables`), or from a CompressAI file's own buffers,
and only where neither has them are they rebuilt by ``update()`` on this machine.
"""

from __future__ import annotations

import copy
import hashlib
import io
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_torch_save
from ..entropy import CdfTables
from ..errors import LicqError, read_bytes
from .channel import LicqChannelVR
from .hyperprior import LicqMeanScale, LicqScaleOnly

#: every architecture by its ``--arch`` name
ARCHITECTURES: dict[str, type] = {cls.arch: cls for cls in (LicqMeanScale, LicqScaleOnly, LicqChannelVR)}

#: Buffers CompressAI computes in ``update()``; never stored, always rebuilt.
_DERIVED = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def build_model(arch: str, N: int, M: int) -> nn.Module:
    """Instantiate an architecture from the registry."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise LicqError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}") from None
    return cls(N=N, M=M)


#: Constant buffers that a model keeps from its constructor, never from a file: half precision
#: turns CompressAI's likelihood floor of 1e-9 into 0, and a warm start from such a file then met
#: a zero likelihood, an infinite rate and NaN weights within a few hundred steps (the first GPU
#: leg, results/campaign/gpu_leg-2026-11-26.json). Half-precision files store them in float32.
_CONSTANT = ("likelihood_lower_bound.bound",)


def _is_derived(key: str) -> bool:
    """Whether a state-dict entry is built from the parameters (CDF tables, the scale table), not learned."""
    return key.rsplit(".", 1)[-1] in _DERIVED


def _is_constant(key: str) -> bool:
    return key.endswith(_CONSTANT)


def infer_sizes(state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """N and M from a state dict (same rule as CompressAI's ``from_state_dict``)."""
    try:
        return int(state["g_a.0.weight"].size(0)), int(state["g_a.6.weight"].size(0))
    except KeyError:
        raise LicqError("not a hyperprior state dict: g_a.0.weight / g_a.6.weight missing") from None


def read_model_bytes(path: str | Path) -> bytes:
    """A model file's bytes, for callers that hash or ship the file as it is; one-line errors."""
    return read_bytes(path, "model file")


def load_model_object(path: str | Path, data: bytes | None = None) -> object:
    """``torch.load`` of a model or checkpoint file without unpickling arbitrary objects.

    Separate from :func:`state_dict_from_file` so that a caller that also needs a
    checkpoint's other entries (its config, its step) reads the file once. ``data``: the
    file's bytes where the caller has read them already (``path`` then only names it in errors).
    """
    data = read_model_bytes(path) if data is None else data
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal is a bad model file
        raise LicqError(f"cannot load model file {path}: {str(exc).splitlines()[0]}") from None


def state_dict_of(obj: object, path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded file (see :func:`state_dict_from_file`); ``path`` names it in errors."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LicqError(f"{path} does not hold a state dict of tensors")
    # DDP checkpoints prefix every key with "module."
    return {k.removeprefix("module."): v for k, v in obj.items()}


def state_dict_from_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict without unpickling arbitrary objects.

    Accepts licq weight files, CompressAI zoo files (``*.pth.tar``) and
    training checkpoints that hold the state dict under ``"model"``/``"state_dict"``.
    """
    return state_dict_of(load_model_object(path), path)


def model_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the parameters that define a model (keys, shapes, float32 values).

    Independent of the file format and of storage precision once loaded, so a
    stream names the exact weights it was made with.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        if _is_derived(key):
            continue
        t = state[key].detach().to(torch.float32).contiguous().cpu()
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def load_params(model: nn.Module, state: dict[str, torch.Tensor], fresh: tuple[str, ...] = ()) -> None:
    """Load the non-derived entries of ``state`` (as float32) into ``model``; all must match, except that
    parameters whose names start with one of ``fresh`` may be missing (a warm start from a smaller
    architecture: they keep their initial values).

    Bypasses CompressAI's ``load_state_dict`` override, which insists on the
    derived CDF buffers being present. The constant likelihood floors stay the model's own.
    """
    state = {k: v.to(torch.float32) if v.is_floating_point() else v
             for k, v in state.items() if not _is_derived(k) and not _is_constant(k)}
    try:
        result = nn.Module.load_state_dict(model, state, strict=False)
    except RuntimeError as exc:
        raise LicqError(f"weights do not fit the architecture: {str(exc).splitlines()[-1].strip()}") from None
    missing = [k for k in result.missing_keys if not _is_derived(k) and not _is_constant(k) and not k.startswith(fresh)]
    if missing or result.unexpected_keys:
        raise LicqError(f"weights do not match the architecture: "
                        f"missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}")


_HYPER = "entropy_bottleneck."


def hyperlatent_digest(state: dict[str, torch.Tensor]) -> str:
    """:func:`model_digest` of the hyper-latent's entropy bottleneck alone: the key of its stored tables
    (a finetuned decoder shares its base's)."""
    return model_digest({k: v for k, v in state.items() if k.startswith(_HYPER)})[:16]


def hyperlatent_tables(model: nn.Module) -> CdfTables:
    """The quantized CDFs the model's entropy bottleneck codes ẑ with (one per channel)."""
    eb = model.entropy_bottleneck
    return CdfTables.from_buffers(eb._quantized_cdf, eb._cdf_length, eb._offset)


def set_hyperlatent_tables(model: nn.Module, tables: CdfTables) -> None:
    """Code ẑ with ``tables`` (one per channel) instead of the ones ``update()`` built."""
    eb = model.entropy_bottleneck
    if len(tables) != eb._offset.numel():
        raise LicqError(f"stored hyper-latent tables for {len(tables)} channels, the model has {eb._offset.numel()}")
    width = max(tables.lengths)
    cdf = torch.zeros(len(tables), width, dtype=torch.int32)
    for i, row in enumerate(tables.cdfs):
        cdf[i, :len(row)] = torch.tensor(row, dtype=torch.int32)
    eb._quantized_cdf = cdf
    eb._cdf_length = torch.tensor(tables.lengths, dtype=torch.int32)
    eb._offset = torch.tensor(tables.offsets, dtype=torch.int32)


def _file_tables(state: dict[str, torch.Tensor]) -> CdfTables | None:
    """A CompressAI file's own hyper-latent tables (saved after its ``update()``), if it has them."""
    keys = [_HYPER + k for k in ("_quantized_cdf", "_cdf_length", "_offset")]
    if not all(k in state and state[k].numel() for k in keys):
        return None
    return CdfTables.from_buffers(*(state[k] for k in keys))


def load_weights(arch: str, state: dict[str, torch.Tensor], tables: CdfTables | None = None) -> nn.Module:
    """Build ``arch`` sized from ``state``, load it in float32 and give it its CDF tables: ``tables``
    for the hyper-latent where given (the zoo's stored ones), else the file's own, else built here."""
    N, M = infer_sizes(state)
    model = build_model(arch, N, M)
    load_params(model, state)
    model.update(force=True)
    tables = tables or _file_tables(state)
    if tables is not None:
        set_hyperlatent_tables(model, tables)
    model.eval()
    model.prepare_inference()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached CPU copies, floating tensors in half precision except the constant floors (fp16 zeroes them)."""
    return {k: (v.half() if v.is_floating_point() and not _is_constant(k) else v).detach().cpu().clone()
            for k, v in state.items()}


def save_weights(model: nn.Module, path: str | Path, half: bool = True) -> str:
    """Write the model's weights (half precision by default) and its hyper-latent tables atomically;
    return the sha256 of the file."""
    state = {k: v for k, v in model.state_dict().items() if not _is_derived(k)}
    state = half_state(state) if half else {k: v.detach().cpu().clone() for k, v in state.items()}
    return hashlib.sha256(atomic_torch_save(path, _with_hyperlatent_tables(model, state))).hexdigest()


def _with_hyperlatent_tables(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` (no derived entries) plus the hyper-latent CDF tables built from its own (stored-precision)
    entropy bottleneck.

    Tables are built from floats, so two machines can build different ones from the same weights
    (another kernel set rounds the logistic CDFs differently) and then decode ẑ differently. A
    weight file that carries the tables its writer built codes ẑ the same everywhere it is loaded
    (:func:`load_weights` takes a file's own tables); the digest ignores them.
    """
    eb = copy.deepcopy(model.entropy_bottleneck).cpu().float()
    own = {k[len(_HYPER):]: v.float() if v.is_floating_point() else v for k, v in state.items() if k.startswith(_HYPER)}
    nn.Module.load_state_dict(eb, own, strict=False)
    eb.update(force=True)
    return {**state, **{_HYPER + k: getattr(eb, k).detach().clone() for k in ("_quantized_cdf", "_cdf_length", "_offset")}}
