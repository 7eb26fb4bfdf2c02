"""Which model a command means: a zoo name, a quality, a user's weight file, or the default.

The zoo (:mod:`licq.zoo`) knows the shipped models; this module turns any of the
ways a user can name a model into a :class:`LoadedModel` ready to code, so that
user files and zoo models come out the same way.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..entropy import CdfTables, GaussianModel, gaussian_model
from ..errors import LicqError
from .io import load_weights, model_digest, state_dict_from_file


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to code: network, entropy model and the identity written to headers."""

    name: str
    digest: bytes  #: first 8 bytes of :func:`~licq.models.model_digest`
    net: nn.Module
    entropy: GaussianModel


def prepare(name: str, arch: str, state: dict, tables: CdfTables | None = None) -> LoadedModel:
    """Build ``arch`` from a state dict and wrap it with its header identity and entropy model
    (``tables``: the hyper-latent's stored CDFs, see :func:`~licq.models.io.load_weights`)."""
    digest = bytes.fromhex(model_digest(state))[:8]
    net = load_weights(arch, state, tables)
    return LoadedModel(name, digest, net, gaussian_model(net.gaussian_conditional))


@functools.lru_cache(maxsize=8)
def load_file(path: str, arch: str) -> LoadedModel:
    """Load a user's weight file (licq or CompressAI state dict) as architecture ``arch``."""
    return prepare(f"@{arch}", arch, state_dict_from_file(path))


def resolve(model: str | None = None, quality: int | None = None, arch: str | None = None) -> LoadedModel:
    """Pick a model: a zoo name, a weight-file path (with ``arch``), a quality, or the default."""
    from .. import zoo  # the zoo builds on this module

    if model is not None and quality is not None:
        raise LicqError("give either a model or a quality, not both")
    if model is None:
        return zoo.load_zoo(zoo.name_for_quality(quality) if quality is not None else zoo.manifest()["default"])
    if Path(model).is_file() or arch is not None:
        if not Path(model).is_file():
            raise LicqError(f"model file not found: {model}")
        return load_file(str(Path(model).resolve()), arch or "mbt2018-mean")
    return zoo.load_zoo(model)
