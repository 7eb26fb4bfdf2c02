"""Entropy coding of integer symbols with CompressAI's rANS coder."""

from .tables import CdfTables, GaussianModel, gaussian_model, tables_from_cells

__all__ = ["CdfTables", "GaussianModel", "gaussian_model", "tables_from_cells"]
