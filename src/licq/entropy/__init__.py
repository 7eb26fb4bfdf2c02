"""Entropy coding of integer symbols with CompressAI's rANS coder."""

from .gaussian import conditional_tables, gaussian_model
from .stored import ladder_tables
from .tables import CdfTables, GaussianModel, tables_from_cells

__all__ = ["CdfTables", "GaussianModel", "conditional_tables", "gaussian_model", "ladder_tables", "tables_from_cells"]
