"""The single import point of CompressAI.

CompressAI 1.2.8 calls ``torch.jit.script`` at import time, which recent
PyTorch releases answer with a FutureWarning on every run; it says nothing
about licq's use, so it is silenced here, once, and nowhere else.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from compressai._CXX import pmf_to_quantized_cdf
    from compressai.ans import RansDecoder, RansEncoder
    from compressai.models import MeanScaleHyperprior, ScaleHyperprior

__all__ = ["MeanScaleHyperprior", "RansDecoder", "RansEncoder", "ScaleHyperprior", "pmf_to_quantized_cdf"]
