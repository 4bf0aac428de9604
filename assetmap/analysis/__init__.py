"""The analysis over the store: what it reads, the tables it computes, full and incremental.

- :mod:`~assetmap.analysis.units`: which unit each output area belongs to;
- :mod:`~assetmap.analysis.inputs`: census counts (each variable read once), OA points, demand,
  assets;
- :mod:`~assetmap.analysis.tables`: indices, need, accessibility and gaps per unit (written by
  :mod:`assetmap.db.results`);
- :mod:`~assetmap.analysis.full`: the full recompute;
- :mod:`~assetmap.analysis.incremental`: only what changed assets reach, and the plan what-if
  shares;
- :mod:`~assetmap.analysis.as_at`: the gaps with the sites open at a past moment.

The computations themselves are the pure modules beside this package: :mod:`assetmap.segregation`,
:mod:`assetmap.access`, :mod:`assetmap.gaps`.
"""

from __future__ import annotations

from assetmap.analysis.as_at import recompute_as_at
from assetmap.analysis.full import RecomputeResult, recompute
from assetmap.analysis.incremental import recompute_affected
from assetmap.analysis.inputs import Census, Inputs, load_counts, load_inputs, stored_inputs
from assetmap.analysis.units import UNIT_LEVELS, default_level, unit_map

__all__ = ["UNIT_LEVELS", "Census", "Inputs", "RecomputeResult", "default_level", "load_counts", "load_inputs",
           "recompute", "recompute_affected", "recompute_as_at", "stored_inputs", "unit_map"]
