"""The single import point of CompressAI.

CompressAI 1.2.8 calls ``torch.jit.script`` at import time, which recent
PyTorch releases answer with a FutureWarning on every run; it says nothing
about licq's use, so it is silenced here, once, and nowhere else.

Its package also imports its point-cloud code, and with it torch_geometric (which imports
``torch._dynamo``): about 3.7 s of every ``licq encode`` / ``decode`` start on a 2-core CPU,
for code licq never runs. Its transform registry reads ``torchvision.transforms``, whose package
imports ``torch._dynamo`` through its detection ops: 1.2 s more. While CompressAI is imported, the
few names of those packages that it reads at import time are stand-ins (for a package not already
imported); they leave ``sys.modules`` right after, so a later ``import torch_geometric`` or
``import torchvision`` gets the real package. CompressAI's ``registry.TRANSFORMS`` then lacks
their transforms, which licq never looks up. Should a CompressAI release need more of them, the
import is simply done again with the real packages.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: the modules and names of torch_geometric (its point-cloud code) and torchvision (its transform
#: registry) that CompressAI reads at import time
_STAND_IN_NAMES = {"torch_geometric": (), "torch_geometric.data": ("Data",),
                   "torch_geometric.data.datapipes": (), "torch_geometric.transforms": ("BaseTransform", "Center"),
                   "torchvision": (), "torchvision.transforms": ()}


@contextmanager
def _stand_ins() -> Iterator[None]:
    """Stand-in torch_geometric and torchvision modules for the duration of CompressAI's import
    (none for a package already imported: the real one serves)."""
    stubs = {}
    for name, classes in _STAND_IN_NAMES.items():
        if name.split(".")[0] in sys.modules:
            continue
        module = types.ModuleType(name)
        module.__path__ = []  # a package, so that its submodules import
        for cls in classes:
            setattr(module, cls, type(cls, (), {}))
        stubs[name] = module
    if "torch_geometric.data.datapipes" in stubs:
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
            with _stand_ins():
                importlib.import_module("compressai.models")
        except (ImportError, AttributeError, TypeError):  # a release that needs more: the real packages
            for name in [n for n in sys.modules if n == "compressai" or n.startswith("compressai.")]:
                del sys.modules[name]
            importlib.import_module("compressai.models")


_import_compressai()
from compressai._CXX import pmf_to_quantized_cdf  # noqa: E402
from compressai.ans import RansDecoder, RansEncoder  # noqa: E402
from compressai.models import MeanScaleHyperprior, ScaleHyperprior  # noqa: E402

__all__ = ["MeanScaleHyperprior", "RansDecoder", "RansEncoder", "ScaleHyperprior", "pmf_to_quantized_cdf"]
