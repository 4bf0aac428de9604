"""Display geometry: area boundaries simplified once, ahead of time, for the maps.

Boundary files carry far more detail than a choropleth can show: full-resolution ward
boundaries of England and Wales run to hundreds of megabytes. When a snapshot is published,
:func:`refresh` simplifies each level's areas at two detail levels (``settings.
display_tolerance_m``: ``overview`` for national maps, ``detail`` for a city) and stores them
as EPSG:4326 GeoJSON in ``display_areas``; the dashboard reads those, never the full geometry.

Simplification is *coverage* simplification (GEOS ``CoverageSimplifier``, after Visvalingam
& Whyatt 1993, applied to the shared edges of a polygonal coverage), so two wards that share an
edge still share the same simplified edge: no slivers, no gaps between neighbours. Where the
areas are not a valid coverage (overlapping polygons in a messy file), each polygon is simplified
on its own with topology preserved (Douglas & Peucker 1973) and that is logged.

Coordinates are rounded to 5 decimal places (about 1 m), more than a screen shows.
"""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from assetmap.db.geography import area_basis, area_shapes, display_basis, replace_display
from assetmap.db.store import Store
from assetmap.settings import DISPLAY_CRS, STORE_CRS, settings

log = logging.getLogger(__name__)

DETAILS = ("overview", "detail")
_DECIMALS = 5


def simplify(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify polygons by ``tolerance`` metres, keeping shared edges shared where they can be.

    Parameters
    ----------
    geoms
        Polygons (EPSG:27700) of one level.
    tolerance
        Distance tolerance in metres.

    Returns
    -------
    numpy.ndarray
        The simplified polygons, in the same order.
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or tolerance <= 0:
        return geoms
    try:
        if shapely.coverage_is_valid(geoms):
            out = shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
            if bool(np.all(shapely.is_valid(out))) and not bool(np.any(shapely.is_empty(out))):
                return cast("np.ndarray", out)
    except shapely.errors.GEOSException as exc:  # pragma: no cover - GEOS refusing a coverage
        log.info("coverage simplification refused (%s); simplifying polygon by polygon", exc)
    log.info("areas are not a valid coverage; simplifying each polygon on its own")
    return cast("np.ndarray", shapely.simplify(geoms, tolerance, preserve_topology=True))


def _to_display(geoms: np.ndarray) -> list[str]:
    to_wgs = Transformer.from_crs(STORE_CRS, DISPLAY_CRS, always_xy=True)

    def move(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs.transform(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), _DECIMALS)

    return list(shapely.to_geojson(shapely.transform(geoms, move)))


def refresh(store: Store, levels: tuple[str, ...] = ("ward", "la"), force: bool = False) -> list[str]:
    """Remake the display geometry of ``levels`` whose boundaries changed; return those remade."""
    remade = []
    for level in levels:
        basis = area_basis(store.con, level)
        if basis is None:
            continue
        if display_basis(store.con, level) == basis and not force:
            continue
        shapes = area_shapes(store.con, level)
        codes = [code for code, _ in shapes]
        geoms = shapely.from_wkb([wkb for _, wkb in shapes])
        rows = []
        for detail in DETAILS:
            simple = simplify(geoms, settings.display_tolerance_m[detail])
            rows.append(pd.DataFrame({"level": level, "code": codes, "detail": detail,
                                      "geojson": _to_display(simple), "basis": basis}))
        frame = pd.concat(rows, ignore_index=True)
        with store.transaction() as con:
            replace_display(con, level, frame)
        remade.append(level)
        log.info("display geometry of %d %s areas simplified", len(codes), level)
    return remade
