"""licq: a learned image codec with real scalar and trellis-coded quantization.

Python API::

    import licq
    data = licq.encode("photo.png")          # bytes of a .licq file
    image = licq.decode(data)                # PIL image
"""

from . import container
from .codec import EncodeResult, decode, encode, encode_full
from .errors import LicqError
from .imageio import LicqWarning
from .version import __version__

__all__ = ["EncodeResult", "LicqError", "LicqWarning", "decode", "encode", "encode_full", "__version__"]
