"""Model architectures, construction and weight (de)serialisation."""

from .channel import LicqChannelVR
from .hyperprior import STRIDE, LicqMeanScale, LicqScaleOnly
from .io import ARCHITECTURES, build_model, load_weights, model_digest, save_weights, state_dict_from_file
from .resolve import LoadedModel, load_file, resolve

__all__ = ["ARCHITECTURES", "STRIDE", "LicqChannelVR", "LicqMeanScale", "LicqScaleOnly", "LoadedModel", "build_model", "load_file",
           "load_weights", "model_digest", "resolve", "save_weights", "state_dict_from_file"]
