"""The full recompute: every analysis table for one unit level, replaced in one transaction.

For one unit level (ward by default; ``msoa`` or ``la`` where data comes without wards): the
segregation indices (``unit_indices``), accessibility per OA (``oa_access``) and per unit
(``unit_access``), need (``unit_need``) and gaps (``unit_gaps``). A reader sees the old results
or the new, never a mix. Each census variable is read once (:class:`~assetmap.analysis.inputs.Census`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from assetmap.analysis import languages
from assetmap.analysis.inputs import Census, Inputs, load_inputs
from assetmap.analysis.tables import compute_indices, compute_need, oa_rows, ranked, unit_access, unit_gaps
from assetmap.analysis.units import chosen_level, unit_map
from assetmap.db.results import replace_table, write_analysed_assets
from assetmap.db.store import Store
from assetmap.network import NETWORK, Runner
from assetmap.settings import settings
from assetmap.transit import access as transit
from assetmap.vocab.categories import CATEGORIES

log = logging.getLogger(__name__)


@dataclass
class RecomputeResult:
    """What a recompute did: its level and mode, the units and OAs it computed, how long it took."""

    level: str
    mode: str
    units: int = 0
    oas: int = 0
    changed_units: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values (seconds to the millisecond)."""
        return {"level": self.level, "mode": self.mode, "units": self.units, "oas": self.oas,
                "changed_units": self.changed_units, "seconds": round(self.seconds, 3),
                "notes": self.notes}


#: How many authorities or sites a note names before "and N more".
_NAMED = 10
_BY_BUS_NOTE = ("supply counts the providers a short walk and one bus away as well (ASSETMAP_SUPPLY_BY_BUS): "
                "the journey's minutes as walking metres")


def access_notes(inputs: Inputs) -> list[str]:
    """Return what a recompute says about how access was measured, and what a walking network left out."""
    cost = inputs.costs
    if cost.mode != NETWORK:
        return ["access measured as the crow flies: no walking network is loaded"] + \
            ([_BY_BUS_NOTE] if getattr(cost, "by_bus", False) else [])
    notes = ["access measured on foot along the walking network"]
    crow = getattr(cost, "crow_parts", None) or getattr(getattr(cost, "base", None), "crow_parts", None)
    if crow:
        shown = ", ".join(crow[:_NAMED]) + (f" and {len(crow) - _NAMED:,} more" if len(crow) > _NAMED else "")
        notes.append(f"{len(crow):,} local authorities the walking network does not reach are measured as the "
                     f"crow flies: {shown}")
    if getattr(cost, "by_bus", False):
        notes.append(_BY_BUS_NOTE)
    outside = int(cost.outside.sum())
    if outside:
        notes.append(f"{outside:,} of {len(inputs.oas):,} output areas lie beyond the walking network's extent "
                     "(more than {:,.0f} m from it) and get no walking figure".format(settings.network_oa_snap_m))
    off = cost.off_network(inputs.assets[["x", "y"]].to_numpy(float))
    if off.any():
        ids = inputs.assets["asset_id"].to_numpy()[off]
        shown = ", ".join(map(str, ids[:_NAMED])) + (f" and {len(ids) - _NAMED:,} more" if len(ids) > _NAMED else "")
        notes.append(f"{int(off.sum()):,} assets lie more than {settings.network_snap_m:,.0f} m from the walking "
                     f"network and are left out of walking access: {shown}")
    return notes


def recompute(store: Store, level: str | None = None, n_boot: int = 0, runner: Runner | None = None,
              ) -> RecomputeResult:
    """Full recompute of every analysis table for one unit level (default: :func:`default_level`).

    With a ``runner`` (a work pool), each authority's walks are answered in a process of its own.
    """
    t0 = time.perf_counter()
    con = store.con
    level = chosen_level(con, level)
    res = RecomputeResult(level=level, mode="full")
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    census = Census(con)  # each variable read once, for the study area only
    indices = compute_indices(con, level, census, n_boot)
    need = compute_need(con, level, indices, census)
    inputs = load_inputs(con, census, runner=runner)
    umap = unit_map(con, level)
    access_rows = gaps = oa_frame = None
    bus = None
    if inputs is None:
        res.notes.append("no OA polygons loaded: accessibility and gaps not computed")
    else:
        oa_frame = pd.concat([oa_rows(inputs, c) for c in CATEGORIES], ignore_index=True)
        res.notes += access_notes(inputs)
        access_rows = unit_access(inputs, oa_frame, umap, level)
        gaps = unit_gaps(need, access_rows)
        if not gaps.empty:
            gaps = gaps.merge(ranked(gaps, access_rows), on=["unit_code", "category"])
        res.oas = len(inputs.oas)
        bus = transit.compute(con, inputs.oas["oa_code"].to_numpy(object), inputs.oas["population"].to_numpy(float),
                              inputs.costs)
        if bus is not None:
            res.notes += bus.notes
    language_rows = languages.compute(con, umap, inputs.oas[["oa_code", "x", "y"]] if inputs is not None else None,
                                      costs=getattr(inputs.costs, "base", inputs.costs) if inputs is not None else None)
    with store.transaction():
        # each table rebuilt and swapped in (the other levels' rows kept): deleting a national
        # table's million rows one by one would take longer than computing them
        for table, frame in (("unit_indices", indices), ("unit_need", need),
                             ("unit_access", access_rows), ("unit_gaps", gaps), ("unit_languages", language_rows)):
            rows = frame.assign(unit_level=level, computed_at=now) if frame is not None and not frame.empty else None
            replace_table(con, table, rows, keep="unit_level <> ?", params=[level])
        if oa_frame is not None and inputs is not None:
            replace_table(con, "oa_access", oa_frame)
            replace_table(con, "oa_inputs", inputs.oas)
            write_analysed_assets(con)
        # bus access: one set of rows for every unit level at once (a timetable replaced or gone
        # leaves no figure of the last one behind)
        for table, frame in (("oa_ptal", bus.oas if bus else None), ("oa_ptal_routes", bus.routes if bus else None),
                             ("unit_ptal", bus.units if bus else None)):
            replace_table(con, table, frame.assign(computed_at=now) if frame is not None and not frame.empty
                          and table != "oa_ptal_routes" else frame)
    res.units = int(umap.nunique())
    res.seconds = time.perf_counter() - t0
    log.info("full recompute at %s level: %d units, %d OAs in %.2f s", level, res.units, res.oas, res.seconds)
    return res
