"""A SYNTHETIC street network for the demo city, written as OpenStreetMap XML.

Nothing here is a real place. The streets are a jittered grid with gaps (every fourth a busier
road) over the city, with a river winding across it that only two bridges cross: so that the
demo's maps show where straight lines lie about what is in reach.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon

from assetmap.settings import DISPLAY_CRS, STORE_CRS

GENERATOR = "assetmap demo (synthetic)"
#: The share of the grid's blocks with no street through them.
_GAPS = 0.35


def river_y(x: np.ndarray | float, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Return the river's northing at each easting: a slow meander a little south of the centre."""
    minx, miny, _, maxy = bounds
    cy = (miny + maxy) / 2
    return np.asarray(cy - 1200.0 + 900.0 * np.sin((np.asarray(x, dtype=float) - minx) / 2600.0))


def bridges_x(bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """Where the two bridges cross (eastings): west of the centre and east of it."""
    cx = (bounds[0] + bounds[2]) / 2
    return cx - 3500.0, cx + 2500.0


def write_network(path: Path, region: Polygon, rng: np.random.Generator, spacing: float = 150.0) -> Path:
    """Write the demo's streets and its two river crossings to ``path`` (OSM XML, version 0.6)."""
    area = region.buffer(300.0)
    bounds = area.bounds
    minx, miny, maxx, maxy = bounds
    xs = np.arange(minx, maxx + spacing, spacing)
    ys = np.arange(miny, maxy + spacing, spacing)
    gx, gy = np.meshgrid(xs, ys)  # rows run west to east, one per northing
    px = gx + rng.uniform(-0.25, 0.25, gx.shape) * spacing
    py = gy + rng.uniform(-0.25, 0.25, gy.shape) * spacing
    inside = shapely.contains_xy(area, px, py)
    north = py > river_y(px, bounds)
    ids = np.zeros(gx.shape, dtype=np.int64)
    ids[inside] = np.arange(1, int(inside.sum()) + 1)
    crossing_cols = {int(np.argmin(np.abs(xs - bx))) for bx in bridges_x(bounds)}

    ways: list[tuple[list[int], dict[str, str]]] = []

    def add_run(cells: list[tuple[int, int]], tags: dict[str, str]) -> None:
        run: list[int] = []
        # about a third of the grid's blocks are not walked through (closes, cul-de-sacs, yards):
        # a real street pattern, not a lattice (a lattice is also the worst case for routing engines)
        gaps = rng.uniform(size=len(cells)) < _GAPS
        for k, (r, c) in enumerate(cells):
            node = int(ids[r, c])
            joined = bool(run) and node and (north[r, c] == north[cells[k - 1]]) and not gaps[k]
            if node and (not run or joined):
                run.append(node)
                continue
            if len(run) > 1:
                ways.append((run, tags))
            run = [node] if node else []
        if len(run) > 1:
            ways.append((run, tags))

    rows, cols = gx.shape
    for r in range(rows):
        add_run([(r, c) for c in range(cols)], {"highway": "tertiary" if r % 4 == 0 else "residential"})
    for c in range(cols):
        tags = {"highway": "secondary" if c % 4 == 0 else "residential"}
        add_run([(r, c) for r in range(rows)], tags)
        if c in crossing_cols:  # the bridge: the one street of its column that crosses the river
            for r in range(rows - 1):
                a, b = int(ids[r, c]), int(ids[r + 1, c])
                if a and b and north[r, c] != north[r + 1, c]:
                    ways.append(([a, b], {"highway": "primary", "bridge": "yes", "layer": "1",
                                          "name": f"Demoford Bridge {len(ways) % 7 + 1}"}))

    lon, lat = Transformer.from_crs(STORE_CRS, DISPLAY_CRS, always_xy=True).transform(px[inside], py[inside])
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<osm version="0.6" generator={quoteattr(GENERATOR)}>',
             "  <!-- SYNTHETIC: the streets of Demoford, a made-up city (CC0) -->"]
    for node, lo, la in zip(ids[inside], lon, lat, strict=True):
        lines.append(f'  <node id="{node}" version="1" timestamp="2026-01-01T00:00:00Z" '
                     f'lat="{la:.7f}" lon="{lo:.7f}"/>')
    for k, (nodes, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{k}" version="1" timestamp="2026-01-01T00:00:00Z">')
        lines += [f'    <nd ref="{n}"/>' for n in nodes]
        lines += [f"    <tag k={quoteattr(key)} v={quoteattr(val)}/>" for key, val in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
