"""The single import point of CompressAI.

CompressAI 1.2.8 calls ``torch.jit.script`` at import time, which recent
PyTorch releases answer with a FutureWarning on every run; it says nothing
about licq's use, so it is silenced here, once, and nowhere else.

Its package also imports its point-cloud code, and with it torch_geometric (which imports
``torch._dynamo``): about 3.7 s of every ``licq encode`` / ``decode`` start on a 2-core CPU,
for code licq never runs. While CompressAI is imported, the few torch_geometric names that code
reads at import time are stand-ins; they leave ``sys.modules`` right after, so a later
``import torch_geometric`` gets the real package. Should a CompressAI release need more of it,
the import is simply done again with the real package.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: the torch_geometric modules and names CompressAI's point-cloud modules read at import time
_POINT_CLOUD_NAMES = {"torch_geometric": (), "torch_geometric.data": ("Data",),
                      "torch_geometric.data.datapipes": (), "torch_geometric.transforms": ("BaseTransform", "Center")}


@contextmanager
def _point_cloud_stand_ins() -> Iterator[None]:
    """Stand-in torch_geometric modules for the duration of CompressAI's import (none where the
    real package is already imported)."""
    if "torch_geometric" in sys.modules:
        yield
        return
    stubs = {}
    for name, classes in _POINT_CLOUD_NAMES.items():
        module = types.ModuleType(name)
        module.__path__ = []  # a package, so that its submodules import
        for cls in classes:
            setattr(module, cls, type(cls, (), {}))
        stubs[name] = module
    stubs["torch_geometric.data.datapipes"].functional_transform = lambda name: (lambda cls: cls)
    for name, module in stubs.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(stubs[parent], child, module)
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name, module in stubs.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _import_compressai() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            with _point_cloud_stand_ins():
                importlib.import_module("compressai.models")
        except (ImportError, AttributeError, TypeError):  # a release that needs more: the real package
            for name in [n for n in sys.modules if n == "compressai" or n.startswith("compressai.")]:
                del sys.modules[name]
            importlib.import_module("compressai.models")


_import_compressai()
from compressai._CXX import pmf_to_quantized_cdf  # noqa: E402
from compressai.ans import RansDecoder, RansEncoder  # noqa: E402
from compressai.models import MeanScaleHyperprior, ScaleHyperprior  # noqa: E402

__all__ = ["MeanScaleHyperprior", "RansDecoder", "RansEncoder", "ScaleHyperprior", "pmf_to_quantized_cdf"]
