"""PTAL per output area and per unit, from the stored timetable and the walks to its stops.

The walks are asked of the same cost provider as every other access figure
(:class:`~assetmap.network.cost.Costs`): along the street network where one is loaded (an output
area beyond the network's extent gets no figure), otherwise as the crow flies, and each OA's row
says which (``walk_mode``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from assetmap.db import travel
from assetmap.network import NETWORK, Costs
from assetmap.network.cost import modes_of
from assetmap.queries.inputs import oa_lookups
from assetmap.transit import ptal

log = logging.getLogger(__name__)

OUTSIDE = "outside"


@dataclass
class Ptal:
    """What a recompute writes: ``oa_ptal``, ``oa_ptal_routes`` and ``unit_ptal`` rows."""

    oas: pd.DataFrame
    routes: pd.DataFrame
    units: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def oa_ptal(oa_codes: np.ndarray, costs: Costs, stops: pd.DataFrame, departures: pd.DataFrame,
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Return the PTAL index of every OA and each route's part in it.

    Return the index of every OA (``oa_code, ptal_ai, ptal_band, walk_mode, routes``) and each route's part in
    it, walking from the OAs ``costs`` was made for to ``stops`` (``stop_id, x, y``).
    """
    notes: list[str] = []
    xy = stops[["x", "y"]].to_numpy(float)
    s, o, cost = costs.pairs(xy, ptal.MAX_CATCHMENT_M)
    walks = pd.DataFrame({"poi": o, "stop_id": stops["stop_id"].to_numpy(object)[s], "walk_m": cost})
    routes = ptal.route_access(walks, ptal.route_frequencies(departures))
    index = ptal.access_index(routes, np.arange(len(oa_codes)))
    outside = costs.outside
    mode = np.where(outside, OUTSIDE, modes_of(costs, len(oa_codes)))
    out = pd.DataFrame({"oa_code": np.asarray(oa_codes, dtype=object),
                        "ptal_ai": np.where(outside, np.nan, index["ptal_ai"].to_numpy(float)),
                        "ptal_band": np.where(outside, None, index["ptal_band"].to_numpy(object)),
                        "walk_mode": mode, "routes": np.where(outside, 0, index["routes"].to_numpy(int))})
    if costs.mode == NETWORK:
        off = costs.off_network(xy)
        if off.any():
            notes.append(f"{int(off.sum()):,} of {len(xy):,} stops lie more than the snapping distance from the "
                         "walking network and are not walked to")
        if outside.any():
            notes.append(f"{int(outside.sum()):,} output areas beyond the walking network get no PTAL")
    else:
        notes.append("PTAL walks to stops measured as the crow flies: no walking network is loaded")
    routes = routes.assign(oa_code=np.asarray(oa_codes, dtype=object)[routes["poi"].to_numpy(int)]) \
        if not routes.empty else routes.assign(oa_code=pd.Series(dtype=object))
    return out, routes, notes


def unit_ptal(oas: pd.DataFrame, population: pd.Series, lookup: pd.DataFrame) -> pd.DataFrame:
    """Per unit of every level in ``lookup`` (``area_code, parent_level, parent_code``).

    The resident-weighted mean index of its OAs that have one, and its band.
    """
    cols = ["unit_level", "unit_code", "ptal_ai", "ptal_band", "oas", "residents"]
    have = oas[oas["ptal_ai"].notna()][["oa_code", "ptal_ai"]]
    if have.empty or lookup.empty:
        return pd.DataFrame(columns=cols)
    j = lookup.merge(have, left_on="area_code", right_on="oa_code")
    j["w"] = population.reindex(j["area_code"]).fillna(0.0).to_numpy(float)
    j["wx"] = j["w"] * j["ptal_ai"]
    g = j.groupby(["parent_level", "parent_code"], sort=True).agg(
        w=("w", "sum"), wx=("wx", "sum"), mean=("ptal_ai", "mean"), oas=("oa_code", "size")).reset_index()
    # units with no residents counted: the plain mean of their OAs
    ai = np.where(g["w"] > 0, g["wx"] / g["w"].where(g["w"] > 0, 1.0), g["mean"])
    return pd.DataFrame({"unit_level": g["parent_level"], "unit_code": g["parent_code"], "ptal_ai": ai,
                         "ptal_band": ptal.band(ai), "oas": g["oas"].astype(int), "residents": g["w"]})[cols]


def compute(con: duckdb.DuckDBPyConnection, oa_codes: np.ndarray, population: np.ndarray, costs: Costs) -> Ptal | None:
    """Every PTAL table for the store's OAs, or None when no timetable is loaded."""
    if not travel.has_timetable(con):
        return None
    oas, routes, notes = oa_ptal(oa_codes, costs, travel.stops(con), travel.departures(con))
    lookup = oa_lookups(con)
    lookup = lookup[lookup["area_code"].isin(pd.Index(oa_codes, dtype=object))]
    units = unit_ptal(oas, pd.Series(np.asarray(population, float), index=pd.Index(oa_codes, dtype=object)), lookup)
    route_rows = routes[["oa_code", "route_id", "route_name", "mode", "stop_id", "walk_m", "frequency", "tat_min",
                         "edf", "weight"]].copy() if not routes.empty else None
    if route_rows is not None:
        route_rows["frequency"] = route_rows["frequency"].round().astype(int)
    counts = oas["ptal_band"].value_counts()
    notes.insert(0, "PTAL: " + ", ".join(f"{b} {int(counts.get(b, 0)):,}" for b in ptal.BANDS if counts.get(b, 0))
                 + " output areas by band")
    log.info("; ".join(notes))
    return Ptal(oas, route_rows if route_rows is not None else pd.DataFrame(), units, notes)
