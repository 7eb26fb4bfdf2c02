"""licq: a learned image codec with real scalar and trellis-coded quantization.

Python API::

    import licq
    data = licq.encode("photo.png")          # bytes of a .licq file
    image = licq.decode(data)                # PIL image (bytes or a path)

The codec (and with it PyTorch) is imported on first use, so that ``import licq``
and the command line's ``--help``, ``--version``, ``info`` and ``models`` start fast.
"""

from __future__ import annotations

import importlib

from .errors import LicqError
from .version import __version__

#: public name → module that defines it, imported on first access
_LAZY = {"EncodeResult": "codec", "decode": "codec", "encode": "codec", "encode_full": "codec",
         "LicqWarning": "imageio", "container": None}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'licq' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


__all__ = ["EncodeResult", "LicqError", "LicqWarning", "decode", "encode", "encode_full", "__version__"]
