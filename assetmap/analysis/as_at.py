"""The gap as it was: the analysis over the sites open at a past moment (from the assets' history).

``assetmap recompute --as-at DATE`` computes, for each unit and category, need, supply and gap
with the sites open at ``DATE`` (:data:`asset_versions`: opened before it, not yet closed or
replaced) and stores them in ``unit_gaps_as_at`` beside today's ``unit_gaps``, so a ward's gap
then and now can be compared. Need is the census as loaded (its latest vintage): what changed in
between is provision, which is what the comparison asks about.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time

import pandas as pd

from assetmap.analysis.full import RecomputeResult
from assetmap.analysis.inputs import Census, load_inputs
from assetmap.analysis.tables import compute_indices, compute_need, oa_rows, ranked, unit_access, unit_gaps
from assetmap.analysis.units import chosen_level, unit_map
from assetmap.db import results
from assetmap.db.store import Store
from assetmap.vocab.categories import CATEGORIES

log = logging.getLogger(__name__)


def recompute_as_at(store: Store, when: _dt.datetime, level: str | None = None) -> RecomputeResult:
    """Compute the gaps with the sites open at ``when``.

    Replace that moment's rows of ``unit_gaps_as_at`` (for the level); return what was done.
    """
    t0 = time.perf_counter()
    con = store.con
    level = chosen_level(con, level)
    res = RecomputeResult(level=level, mode="as_at")
    census = Census(con)
    indices = compute_indices(con, level, census, 0)
    need = compute_need(con, level, indices, census)
    inputs = load_inputs(con, census, as_at=when)
    if inputs is None:
        res.notes.append("no OA polygons loaded: no gaps to compute")
        return res
    umap = unit_map(con, level)
    oa_frame = pd.concat([oa_rows(inputs, c) for c in CATEGORIES], ignore_index=True)
    access_rows = unit_access(inputs, oa_frame, umap, level)
    gaps = unit_gaps(need, access_rows)
    if gaps.empty:
        res.notes.append("no need computed (no census loaded): no gaps")
        return res
    gaps = gaps.merge(ranked(gaps, access_rows), on=["unit_code", "category"])
    counts = access_rows[["unit_code", "category", "assets_in_unit"]]
    rows = gaps.merge(counts, on=["unit_code", "category"], how="left")
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = pd.DataFrame({
        "as_at": pd.Timestamp(when), "unit_level": level, "unit_code": rows["unit_code"],
        "category": rows["category"], "need": rows["need"], "supply": rows["supply"], "gap": rows["gap"],
        "rank": rows["rank"], "assets": rows["assets_in_unit"].fillna(0).astype(int), "computed_at": now})
    with store.transaction():
        results.replace_gaps_as_at(con, when, level, rows)
    res.units = int(rows["unit_code"].nunique())
    res.oas = len(inputs.oas)
    res.seconds = time.perf_counter() - t0
    res.notes.append(f"{len(inputs.assets)} sites open at {when:%Y-%m-%d}")
    log.info("gaps as at %s: %d units in %.2f s", when, res.units, res.seconds)
    return res
