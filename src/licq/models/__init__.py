"""Model architectures, construction and weight (de)serialisation."""

from .hyperprior import ARCHITECTURES, STRIDE, LicqMeanScale, LicqScaleOnly
from .io import build_model, load_weights, model_digest, save_weights, state_dict_from_file

__all__ = ["ARCHITECTURES", "STRIDE", "LicqMeanScale", "LicqScaleOnly", "build_model",
           "load_weights", "model_digest", "save_weights", "state_dict_from_file"]
