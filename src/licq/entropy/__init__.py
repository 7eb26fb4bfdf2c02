"""Entropy coding of integer symbols with CompressAI's rANS coder."""

from .tables import CdfTables, GaussianModel, gaussian_model

__all__ = ["CdfTables", "GaussianModel", "gaussian_model"]
