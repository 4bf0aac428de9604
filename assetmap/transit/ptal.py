"""Public Transport Accessibility Level (PTAL), as Transport for London computes it.

Transport for London (2015), *Assessing transport connectivity in London*, section 2.5 "The
calculation of PTAL" (the method first written by the London Borough of Hammersmith and Fulham,
1992). For a point of interest (here an output area's point):

1. the service access points in reach: bus stops within a 640 m walk, rail stations (and
   Underground, DLR and tram stops) within 960 m, walking at 80 m a minute;
2. for each route at each of them, its frequency in the morning peak (08:15-09:15; where the two
   directions differ, the higher), the scheduled waiting time ``SWT = 0.5 * 60 / frequency`` and
   the average waiting time ``AWT = SWT + K``, with the reliability allowance ``K`` of 2 minutes
   for buses and 0.75 for rail;
3. each route's total access time ``TAT = walk minutes + AWT``, at the stop where it is least
   (a route counts once, at its best stop);
4. its equivalent doorstep frequency ``EDF = 30 / TAT``;
5. per mode, the access index ``AI = EDF_max + 0.5 * (sum of the other EDFs)``; the point's index
   is the sum over modes;
6. the band of the index: 0, 1a (0.01-2.50), 1b (2.51-5.00), 2 (5.01-10.00), 3 (10.01-15.00),
   4 (15.01-20.00), 5 (20.01-25.00), 6a (25.01-40.00), 6b (40.01 and over).

The functions here are pure (tables in, tables out); :mod:`assetmap.transit.access` feeds them
the walks (on the street network where one is loaded) and the stored departures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The walking speed of the method (metres a minute): 4.8 km/h.
WALK_M_PER_MIN = 80.0
#: The morning peak whose departures count: from the first time, up to but not including the second.
PEAK = ("08:15:00", "09:15:00")
PEAK_MINUTES = 60.0


@dataclass(frozen=True)
class ModeRule:
    """How far a mode's stops are walked to, and its reliability allowance (minutes)."""

    catchment_m: float
    reliability_min: float


#: The method's two kinds of service access point. TfL counts Underground, DLR and tram with
#: rail (960 m, 0.75 minutes); a ferry or anything else on the road counts as a bus.
MODES: dict[str, ModeRule] = {
    "bus": ModeRule(640.0, 2.0),
    "rail": ModeRule(960.0, 0.75),
    "metro": ModeRule(960.0, 0.75),
    "tram": ModeRule(960.0, 0.75),
    "ferry": ModeRule(640.0, 2.0),
}
#: The farthest any stop is walked to.
MAX_CATCHMENT_M = max(r.catchment_m for r in MODES.values())

#: Upper bound (inclusive, on the index rounded to two decimals) of each band above 0.
#: PTAL's modes by GTFS ``route_type``: the basic codes, and the extended ranges [lo, hi); the rest is bus.
_ROUTE_TYPES = (
    ("tram", {0, 5, 6, 7}, ((900, 1000), (1300, 1500))),  # tram, cable tram, aerial lift, funicular
    ("metro", {1, 12}, ((400, 500),)),
    ("rail", {2}, ((100, 200), (300, 400))),
    ("ferry", {4}, ((1000, 1300),)),
)
BAND_TOPS = (2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 40.0)
BANDS = ("0", "1a", "1b", "2", "3", "4", "5", "6a", "6b")
#: A band's order, for sorting and colouring (0 lowest).
BAND_RANK = {b: i for i, b in enumerate(BANDS)}


def mode_of_route_type(route_type: object) -> str:
    """Return the PTAL mode of a GTFS ``route_type`` (the basic 0-12 and the extended 100-1700 codes)."""
    try:
        t = int(str(route_type).strip())
    except ValueError:
        return "bus"
    for mode, basic, extended in _ROUTE_TYPES:
        if t in basic or any(lo <= t < hi for lo, hi in extended):
            return mode
    return "bus"  # 3, 11 trolleybus, 200 coach, 700 bus... and anything unknown


def band(ai: np.ndarray | pd.Series | float) -> np.ndarray:
    """Return the PTAL band of each access index (NaN stays missing, as None)."""
    a = np.atleast_1d(np.asarray(ai, dtype=float))
    r = np.round(a, 2)
    idx = np.searchsorted(np.asarray(BAND_TOPS), r, side="left") + 1
    idx = np.where(r <= 0, 0, idx)
    out = np.asarray(BANDS, dtype=object)[np.clip(idx, 0, len(BANDS) - 1)]
    out[np.isnan(a)] = None
    return out


def route_frequencies(departures: pd.DataFrame) -> pd.DataFrame:
    """``stop_id, route_id, route_name, mode, frequency`` from departures per direction.

    The busier direction's departures in the peak hour (the method takes the higher frequency).
    """
    if departures.empty:
        return pd.DataFrame(columns=["stop_id", "route_id", "route_name", "mode", "frequency"])
    f = (departures.groupby(["stop_id", "route_id"], sort=True)
         .agg(route_name=("route_name", "first"), mode=("mode", "first"), departures=("departures", "max"))
         .reset_index())
    f["frequency"] = f.pop("departures").astype(float) * (60.0 / PEAK_MINUTES)
    return f


def route_access(walks: pd.DataFrame, frequencies: pd.DataFrame) -> pd.DataFrame:
    """Each route's part in each point's index.

    Parameters
    ----------
    walks
        ``poi, stop_id, walk_m``: the walk from each point to each stop near it.
    frequencies
        ``stop_id, route_id, route_name, mode, frequency`` (:func:`route_frequencies`).

    Returns
    -------
    pandas.DataFrame
        One row per point and route in reach: ``poi, route_id, route_name, mode, stop_id, walk_m,
        frequency, walk_min, swt, awt, tat_min, edf, weight, ai`` (``ai = edf * weight``).
    """
    cols = ["poi", "route_id", "route_name", "mode", "stop_id", "walk_m", "frequency", "walk_min", "swt", "awt",
            "tat_min", "edf", "weight", "ai"]
    if walks.empty or frequencies.empty:
        return pd.DataFrame(columns=cols)
    j = walks.merge(frequencies[frequencies["frequency"] > 0], on="stop_id", how="inner")
    catch = j["mode"].map({m: r.catchment_m for m, r in MODES.items()}).fillna(MODES["bus"].catchment_m)
    j = j[j["walk_m"].to_numpy(float) <= catch.to_numpy(float)].copy()
    if j.empty:
        return pd.DataFrame(columns=cols)
    rel = j["mode"].map({m: r.reliability_min for m, r in MODES.items()}).fillna(MODES["bus"].reliability_min)
    j["walk_min"] = j["walk_m"].to_numpy(float) / WALK_M_PER_MIN
    j["swt"] = 0.5 * 60.0 / j["frequency"].to_numpy(float)
    j["awt"] = j["swt"] + rel.to_numpy(float)
    j["tat_min"] = j["walk_min"] + j["awt"]
    # a route counts once, at the stop where its total access time is least
    j = j.sort_values(["poi", "route_id", "tat_min", "walk_m", "stop_id"], kind="stable")
    j = j.drop_duplicates(["poi", "route_id"], keep="first")
    j["edf"] = 30.0 / j["tat_min"]
    # per point and mode: the best route weighs 1, the others 0.5
    j = j.sort_values(["poi", "mode", "edf", "route_id"], ascending=[True, True, False, True], kind="stable")
    first = ~j.duplicated(["poi", "mode"], keep="first")
    j["weight"] = np.where(first.to_numpy(), 1.0, 0.5)
    j["ai"] = j["edf"] * j["weight"]
    return j[cols].sort_values(["poi", "ai", "route_id"], ascending=[True, False, True], kind="stable") \
        .reset_index(drop=True)


def access_index(routes: pd.DataFrame, pois: pd.Index | np.ndarray) -> pd.DataFrame:
    """Return the PTAL of every point in ``pois`` from :func:`route_access`'s rows.

    ``poi, ptal_ai, ptal_band, routes`` for every point in ``pois`` (0 and band 0 where no route is in reach),
    from :func:`route_access`'s rows.
    """
    pois = pd.Index(pois, name="poi")
    if routes.empty:
        ai = pd.Series(0.0, index=pois)
        n = pd.Series(0, index=pois)
    else:
        g = routes.groupby("poi")
        ai = g["ai"].sum().reindex(pois, fill_value=0.0)
        n = g.size().reindex(pois, fill_value=0)
    return pd.DataFrame({"poi": pois, "ptal_ai": ai.to_numpy(float), "ptal_band": band(ai.to_numpy(float)),
                         "routes": n.to_numpy(int)})
