"""What the what-if and the site suggestions read (:mod:`assetmap.sites`).

Places on the national grid and back, the output area and ward at a point, and a level's stored gaps and access,
which they change in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd


def to_grid(con: duckdb.DuckDBPyConnection, lat: float, lon: float) -> tuple[float, float]:
    """WGS84 latitude and longitude as British National Grid (EPSG:27700) metres."""
    row = con.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Point(?, ?), 'EPSG:4326', 'EPSG:27700', "
        "always_xy := true) AS p)", [float(lon), float(lat)]).fetchone()
    if row is None:  # a constant SELECT always returns its row
        msg = f"cannot place {lat}, {lon}"
        raise ValueError(msg)
    return float(row[0]), float(row[1])


def to_lon_lat(con: duckdb.DuckDBPyConnection, xs: list[float], ys: list[float]) -> list[tuple[float, float]]:
    """British National Grid points as WGS84 (longitude, latitude), in order."""
    rows = con.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Point(x, y), 'EPSG:27700', 'EPSG:4326', "
        "always_xy := true) AS p FROM (SELECT unnest(?) AS x, unnest(?) AS y))", [xs, ys]).fetchall()
    return [(float(r[0]), float(r[1])) for r in rows]


def oa_and_ward_at(con: duckdb.DuckDBPyConnection, x: float, y: float) -> tuple[str | None, str | None]:
    """Return the output area holding a grid point, and its ward (None where none is loaded)."""
    row = con.execute(
        """SELECT a.code, l.parent_code FROM areas a
           LEFT JOIN area_lookup l ON l.area_code = a.code AND l.parent_level = 'ward'
           WHERE a.level = 'oa' AND ST_Contains(a.geom, ST_Point(?, ?)) ORDER BY a.code LIMIT 1""",
        [x, y]).fetchone()
    return (row[0], row[1]) if row else (None, None)


def level_gaps(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """``unit_code, category, need, supply, gap, rank`` of every unit of ``level``."""
    return con.execute("SELECT unit_code, category, need, supply, gap, rank FROM unit_gaps WHERE unit_level = ?",
                       [level]).df()


def level_access(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """``unit_code, category, demand, share_within_1600`` of every unit of ``level``."""
    return con.execute("SELECT unit_code, category, demand, share_within_1600 FROM unit_access "
                       "WHERE unit_level = ?", [level]).df()


def oa_access(con: duckdb.DuckDBPyConnection, category: str) -> pd.DataFrame:
    """``oa_code, nearest_m, nearest_min, access_mode`` of every output area for ``category``."""
    return con.execute("SELECT oa_code, nearest_m, nearest_min, access_mode FROM oa_access WHERE category = ?",
                       [category]).df()
