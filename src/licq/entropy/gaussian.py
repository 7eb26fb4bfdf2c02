"""The Gaussian entropy model of a CompressAI ``GaussianConditional``, with the shipped tables."""

from __future__ import annotations

from .stored import ladder_tables
from .tables import CdfTables, GaussianModel


def conditional_tables(gaussian_conditional) -> CdfTables:
    """The CDF tables of an updated CompressAI ``GaussianConditional``."""
    gc = gaussian_conditional
    return CdfTables.from_buffers(gc._quantized_cdf, gc._cdf_length, gc._offset)


def gaussian_model(gaussian_conditional) -> GaussianModel:
    """Tables and scale ladder of a CompressAI ``GaussianConditional``: the shipped tables of its ladder
    (:mod:`.stored`), or where none shipped its own, as ``update()`` built them on this machine."""
    gc = gaussian_conditional
    ladder = tuple(gc.scale_table.tolist())
    tables = ladder_tables("gaussian", ladder, lambda: conditional_tables(gc))
    return GaussianModel(tables, gc.scale_table.clone(), float(gc.lower_bound_scale.bound))
