"""A short walk and one bus: the option that counts providers reachable that way on the supply side.

Off by default (``settings.supply_by_bus``). When it is on, the cost provider the analysis asks
(:class:`~assetmap.network.cost.Costs`) is :class:`WalkAndBus`: for catchments (providers within
800 m and 1,600 m, E2SFCA, so the gaps, the language match and the suggested sites) an output area
reaches a provider either on foot, as before, or by

    a walk to a stop (at most ``settings.bus_walk_m``) + the wait (half the interval between the
    route's peak departures that make the ride) + the ride (``transit_links``) + a walk from the
    stop to the provider (at most ``settings.bus_walk_m``),

whichever is quicker, its minutes counted as walking metres at ``settings.walk_speed_kmh`` (a
20-minute journey is 1,600 m, the outer catchment). The walks are asked of the same provider as
every other walk (along the street network where one is loaded). The nearest provider and its
distance stay on foot: "nearest" is a walk.

The half-interval wait is the scheduled waiting time of Transport for London's PTAL method; the
generalised journey time is that of the DfT's journey time statistics (walk + wait + in-vehicle).
"""

from __future__ import annotations

from typing import cast

import duckdb
import numpy as np
import pandas as pd

from assetmap.db import travel
from assetmap.network.cost import Costs, CrowFlies, Walking
from assetmap.settings import settings


class WalkAndBus:
    """On foot, or a short walk and one bus, whichever is quicker (catchments only)."""

    by_bus = True

    def __init__(self, base: Costs, stops: pd.DataFrame, links: pd.DataFrame) -> None:
        self.base = base
        self.mode = base.mode
        self.stops = stops.reset_index(drop=True)
        self.stop_xy = self.stops[["x", "y"]].to_numpy(float)
        idx = pd.Series(np.arange(len(self.stops)), index=self.stops["stop_id"].to_numpy(object))
        links = links[links["from_stop"].isin(idx.index) & links["to_stop"].isin(idx.index)]
        wait = 0.5 * 60.0 / links["departures"].to_numpy(float)
        # per pair of stops, the quickest ride and wait of any route between them
        lk = pd.DataFrame({"a": idx[links["from_stop"]].to_numpy(), "b": idx[links["to_stop"]].to_numpy(),
                           "m": wait + links["ride_min"].to_numpy(float)})
        self.links = lk.groupby(["a", "b"], sort=True)["m"].min().reset_index()
        self.stop_costs = _like(base, self.stop_xy)  # walks from the stops to the providers
        self._from_oas: pd.DataFrame | None = None

    @property
    def outside(self) -> np.ndarray:
        """Per OA: as the walk measures it."""
        return self.base.outside

    def off_network(self, asset_xy: np.ndarray) -> np.ndarray:
        """Per asset: as the walk measures it."""
        return self.base.off_network(asset_xy)

    def nearest(self, oas: np.ndarray, asset_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each OA in ``oas``: the nearest asset on foot (a bus never makes one nearer than it is)."""
        return self.base.nearest(oas, asset_xy)

    def route_m(self, oas: np.ndarray, asset_xy: np.ndarray) -> np.ndarray:
        """Return the length in metres of the walk from each OA ``oas[k]`` to ``asset_xy[k]``."""
        return self.base.route_m(oas, asset_xy)

    def _alight(self) -> pd.DataFrame:
        """Return the quickest minutes from each OA to getting off at each stop.

        ``oa, b, m``: the quickest minutes from each OA to getting off at stop ``b`` (walk to a stop, wait,
        ride), for every OA (computed once: the stops and OAs do not change).
        """
        if self._from_oas is None:
            s, o, w = self.base.pairs(self.stop_xy, settings.bus_walk_m)
            walk = pd.DataFrame({"oa": o, "a": s, "w": w / settings.walk_m_per_min})
            j = walk.merge(self.links, on="a")
            j["m"] = j["w"] + j["m"]
            self._from_oas = j.groupby(["oa", "b"], sort=True)["m"].min().reset_index()
        return self._from_oas

    def bus_pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (asset, OA, cost) of the journeys by a short walk and one bus within ``radius``.

        (asset, OA, cost) of the journeys by a short walk and one bus within ``radius`` (walking metres),
        ordered by asset then OA.
        """
        e = np.empty(0, dtype=np.int64)
        if len(asset_xy) == 0 or len(self.stop_xy) == 0:
            return e, e, np.empty(0)
        a_idx, s_idx, w = self.stop_costs.pairs(np.asarray(asset_xy, dtype=float), settings.bus_walk_m)
        last = pd.DataFrame({"asset": a_idx, "b": s_idx, "w": w / settings.walk_m_per_min})
        alight = self._alight()
        if oas is not None:
            alight = alight[np.isin(alight["oa"].to_numpy(), np.asarray(oas, dtype=np.int64))]
        j = alight.merge(last, on="b")
        cost = (j["m"].to_numpy(float) + j["w"].to_numpy(float)) * settings.walk_m_per_min
        j = pd.DataFrame({"asset": j["asset"].to_numpy(np.int64), "oa": j["oa"].to_numpy(np.int64), "c": cost})
        j = j[j["c"] <= radius].groupby(["asset", "oa"], sort=True)["c"].min().reset_index()
        return j["asset"].to_numpy(np.int64), j["oa"].to_numpy(np.int64), j["c"].to_numpy(float)

    def pairs(self, asset_xy: np.ndarray, radius: float, oas: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(asset, OA, cost) for every pair within ``radius`` on foot, or a walk and one bus."""
        a1, o1, c1 = self.base.pairs(asset_xy, radius, oas)
        a2, o2, c2 = self.bus_pairs(asset_xy, radius, oas)
        if len(a2) == 0:
            return a1, o1, c1
        both = pd.DataFrame({"a": np.concatenate([a1, a2]), "o": np.concatenate([o1, o2]),
                             "c": np.concatenate([c1, c2])})
        # an OA beyond the walking network gets no figure, by bus either
        both = both[~self.base.outside[both["o"].to_numpy(np.int64)]]
        best = both.groupby(["a", "o"], sort=True)["c"].min().reset_index()
        return best["a"].to_numpy(np.int64), best["o"].to_numpy(np.int64), best["c"].to_numpy(float)


def _like(base: Costs, xy: np.ndarray) -> Costs:
    """Return a provider of the same kind as ``base`` whose "output areas" are the points ``xy``."""
    if isinstance(base, Walking):
        # a stop is a point on the street, snapped like an asset (not like an output area)
        return Walking(base.engine, xy, oa_snap_m=settings.network_snap_m)
    if hasattr(base, "like"):  # many authorities: each stop on its own authority's part
        return cast(Costs, base.like(xy, oa_snap_m=settings.network_snap_m))
    return CrowFlies(xy)


def with_buses(con: duckdb.DuckDBPyConnection, base: Costs) -> Costs:
    """Return ``base``, or :class:`WalkAndBus` over it where the option is on and a timetable is loaded."""
    if not settings.supply_by_bus:
        return base
    stops = travel.stops(con)
    if stops.empty:
        return base
    return WalkAndBus(base, stops, travel.links(con))
