"""What a walk from one place reaches: the streets within so many minutes of it.

The walking area of a provider (an isochrone drawn as streets, not a circle): every street edge
both of whose ends lie within the walk, banded by the longest walk the user asks for that
still holds it. Distances are the engine's (:mod:`assetmap.network.graph`), from the place's
nearest street node plus the straight line to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import Transformer

from assetmap.network.graph import Engine
from assetmap.settings import DISPLAY_CRS, STORE_CRS, settings


@dataclass
class WalkingArea:
    """Streets within each band's minutes of a place.

    ``bands[minutes]`` is a list of lines (each ``[[lon, lat], [lon, lat]]``); ``nodes[minutes]`` counts the
    street nodes within it.
    """

    minutes: tuple[int, ...]
    bands: dict[int, list[list[list[float]]]]
    nodes: dict[int, int]
    start_m: float  # the straight line from the place to its nearest street node

    def geojson(self) -> dict[str, Any]:
        """Return the bands as a GeoJSON FeatureCollection of MultiLineStrings (EPSG:4326)."""
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"minutes": m, "nodes": self.nodes[m]},
             "geometry": {"type": "MultiLineString", "coordinates": self.bands[m]}} for m in self.minutes]}


def walking_area(engine: Engine, x: float, y: float, minutes: tuple[int, ...] = (10, 20)) -> WalkingArea:
    """Return the streets within each of ``minutes`` of walking from the point ``(x, y)`` (EPSG:27700)."""
    minutes = tuple(sorted(int(m) for m in minutes))
    (node,), (start,) = engine.snap(np.array([[x, y]]))
    per_min = settings.walk_m_per_min
    got = engine.within(np.array([node]), minutes[-1] * per_min - start)
    cost = np.full(engine.nodes, np.inf)
    cost[got["node"].to_numpy()] = got["cost"].to_numpy() + start
    far = np.maximum(cost[engine.edge_a], cost[engine.edge_b])  # an edge is reached when both ends are
    to_ll = Transformer.from_crs(STORE_CRS, DISPLAY_CRS, always_xy=True)
    bands: dict[int, list[list[list[float]]]] = {}
    nodes: dict[int, int] = {}
    lower = -np.inf
    for m in minutes:
        limit = m * per_min
        pick = np.flatnonzero((far <= limit) & (far > lower))
        a, b = engine.edge_a[pick], engine.edge_b[pick]
        lon_a, lat_a = to_ll.transform(engine.xy[a, 0], engine.xy[a, 1])
        lon_b, lat_b = to_ll.transform(engine.xy[b, 0], engine.xy[b, 1])
        bands[m] = [[[round(float(p), 6), round(float(q), 6)], [round(float(r), 6), round(float(t), 6)]]
                    for p, q, r, t in zip(lon_a, lat_a, lon_b, lat_b, strict=True)]
        nodes[m] = int((cost <= limit).sum())
        lower = limit
    return WalkingArea(minutes, bands, nodes, float(start))
