"""The areas' spatial index and lookups, kept in the store: points in areas, best-fit lookups, the study area.

All of it runs in DuckDB spatial, inside the caller's transaction.

Points are placed in areas through a point-location index kept in the store (tables
``area_grid``, ``area_parts`` and ``area_cells``, rebuilt whenever a level's boundaries change):
each polygon is kept as spatial's native ``POLYGON_2D`` and listed under the cells of a regular
grid it touches. A point's cell is arithmetic on its coordinates, so finding its candidate
polygons is a hash join on the cell key, and the exact test is spatial's native
``ST_Contains(POLYGON_2D, POINT_2D)`` (a crossing-number test, several times cheaper per pair
than the GEOS predicate behind ``ST_Contains(GEOMETRY, GEOMETRY)``). This is the classic
uniform-grid point location of Akman, Franklin, Kankanhalli and Narayanaswami, "Geometric
computing and uniform grid technique", *Computer-Aided Design* 21(7), 1989.

The native test counts a point on an edge as inside on one side of the edge only, so a point
exactly on the boundary between two wards lands in one of them, not in neither (GEOS's
``ST_Contains`` puts it in neither); ties between overlapping areas go to the smallest code.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd

from assetmap.db.sql import scalar, upsert

log = logging.getLogger(__name__)

#: For each child level, the parent levels a best-fit lookup is derived for.
PARENTS = {"oa": ("lsoa", "msoa", "ward", "la"), "lsoa": ("msoa", "la"), "msoa": ("la",),
           "ward": ("la",)}
#: The parent that fills ``areas.parent_code`` for each level.
PRIMARY_PARENT = {"oa": "ward", "lsoa": "msoa", "msoa": "la", "ward": "la"}
#: A child whose point-on-surface falls in no parent takes the nearest parent within this.
NEAREST_FALLBACK_M = 1000.0
#: The index grid's cell starts at the median polygon's extent divided by this: points mostly
#: lie where areas are small (towns), so the cell is set well below the median area's size.
CELLS_PER_EXTENT = 8.0
#: The grid may list this many cells per polygon (or 500,000 in all, if more): the cell grows
#: until the grid fits, so a level of many small areas, or one huge area among small ones,
#: cannot blow the index up.
MAX_CELLS_PER_PART = 8
_MIN_CELL_BUDGET = 500_000
#: A cell's key is ``column * 2**32 + row``, counted from the grid's corner.
_ROW_SPAN = 4294967296


def levels_present(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Return the area levels with boundaries loaded."""
    return {r[0] for r in con.execute("SELECT DISTINCT level FROM areas").fetchall()}


def area_basis(con: duckdb.DuckDBPyConnection, level: str) -> str | None:
    """Return a fingerprint of the areas of ``level`` (their codes and the ingests that wrote them)."""
    return cast("str | None", scalar(con,
        "SELECT md5(string_agg(code || ':' || coalesce(ingest_id, 0)::VARCHAR, ',' ORDER BY code)) "
        "FROM areas WHERE level = ?", [level]))


def area_shapes(con: duckdb.DuckDBPyConnection, level: str,
                codes: list[str] | None = None) -> list[tuple[str, bytes]]:
    """Return ``code, polygon as WKB`` of every area of ``level`` (of those ``codes``, when given), by code."""
    return [(r[0], bytes(r[1])) for r in con.execute(
        "SELECT code, ST_AsWKB(geom) FROM areas WHERE level = ? AND (?::VARCHAR[] IS NULL OR list_contains(?, code)) "
        "ORDER BY code", [level, codes, codes]).fetchall()]


def record_bounds(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    """Store the WGS84 bounding box of the areas an ingest wrote (``areas.lon_min`` ... ``lat_max``).

    The box of each area's BNG envelope with its corners transformed, so that what the command line reports of
    the areas (``assetmap status``'s extent) needs no spatial function at read time.
    """
    con.execute(
        """UPDATE areas SET lon_min = ST_XMin(e.box), lat_min = ST_YMin(e.box), lon_max = ST_XMax(e.box),
                            lat_max = ST_YMax(e.box)
           FROM (SELECT code, ST_Transform(ST_Envelope(geom), 'EPSG:27700', 'EPSG:4326', always_xy := true) AS box
                 FROM areas WHERE ingest_id = ?) e
           WHERE areas.code = e.code""", [ingest_id])


def display_basis(con: duckdb.DuckDBPyConnection, level: str) -> str | None:
    """Return the boundaries the display geometry of ``level`` was simplified from (None: none made)."""
    row = con.execute("SELECT any_value(basis) FROM display_areas WHERE level = ?", [level]).fetchone()
    return None if row is None else row[0]


def replace_display(con: duckdb.DuckDBPyConnection, level: str, rows: pd.DataFrame) -> None:
    """Replace the display geometry of ``level`` with ``rows`` (``level, code, detail, geojson, basis``)."""
    con.execute("DELETE FROM display_areas WHERE level = ?", [level])
    con.register("_display_rows", rows)
    try:
        con.execute("INSERT INTO display_areas SELECT level, code, detail, geojson, basis FROM _display_rows")
    finally:
        con.unregister("_display_rows")


def _cell_size(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> float:
    """Return the grid cell for polygons with these bounds: a fraction of the median extent, within budget."""
    extent = np.maximum(x1 - x0, y1 - y0)
    cell = max(float(np.median(extent)) / CELLS_PER_EXTENT, 1.0)
    budget = max(MAX_CELLS_PER_PART * len(x0), _MIN_CELL_BUDGET)
    gx, gy = x0.min(), y0.min()
    while True:
        nx = np.floor((x1 - gx) / cell) - np.floor((x0 - gx) / cell) + 1
        ny = np.floor((y1 - gy) / cell) - np.floor((y0 - gy) / cell) + 1
        if float((nx * ny).sum()) <= budget:
            return cell
        cell *= 1.25


def refresh_index(con: duckdb.DuckDBPyConnection, levels: list[str] | set[str] | None = None,
                  force: bool = False) -> dict[str, int]:
    """(Re)build the point-location index of the levels whose areas changed.

    Parameters
    ----------
    con
        A writable connection (inside the caller's transaction).
    levels
        The levels to look at (default: every level loaded). A level with no areas left loses
        its index.
    force
        Rebuild even when the areas' fingerprint says nothing changed.

    Returns
    -------
    dict
        Grid cells listed per level rebuilt.
    """
    present = levels_present(con)
    wanted = set(present if levels is None else levels)
    built: dict[str, int] = {}
    for level in sorted(wanted):
        basis = area_basis(con, level) if level in present else None
        row = con.execute("SELECT basis FROM area_grid WHERE level = ?", [level]).fetchone()
        if row is not None and row[0] == basis and not force:
            continue
        for table in ("area_cells", "area_parts", "area_grid"):
            con.execute(f"DELETE FROM {table} WHERE level = ?", [level])  # noqa: S608 (fixed table names)
        if basis is None:
            continue
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _parts AS
            WITH d AS (SELECT code, unnest(ST_Dump(geom)) AS d FROM areas WHERE level = ?)
            SELECT (row_number() OVER (ORDER BY code, d.path))::INTEGER AS part_id, code,
                   d.geom AS geom, ST_XMin(d.geom) AS x0, ST_YMin(d.geom) AS y0,
                   ST_XMax(d.geom) AS x1, ST_YMax(d.geom) AS y1
            FROM d WHERE ST_GeometryType(d.geom) = 'POLYGON' AND NOT ST_IsEmpty(d.geom)
            """,
            [level],
        )
        b = con.execute("SELECT x0, y0, x1, y1 FROM _parts").fetchnumpy()
        if len(b["x0"]) == 0:
            con.execute("DROP TABLE _parts")
            continue
        x0, y0, x1, y1 = (np.asarray(b[k], dtype=float) for k in ("x0", "y0", "x1", "y1"))
        cell = _cell_size(x0, y0, x1, y1)
        grid = {"level": level, "cell": cell, "gx": float(x0.min()), "gy": float(y0.min())}
        con.execute("INSERT INTO area_parts SELECT $level, part_id, code, geom::POLYGON_2D FROM _parts "
                    "ORDER BY part_id", {"level": level})
        con.execute(
            f"""
            INSERT INTO area_cells
            SELECT $level, cx * {_ROW_SPAN} + cy AS cell, p.part_id FROM _parts p,
                   range(floor((p.x0 - $gx) / $cell)::BIGINT, floor((p.x1 - $gx) / $cell)::BIGINT + 1) t(cx),
                   range(floor((p.y0 - $gy) / $cell)::BIGINT, floor((p.y1 - $gy) / $cell)::BIGINT + 1) u(cy)
            WHERE ST_Intersects(p.geom, ST_MakeEnvelope($gx + cx * $cell, $gy + cy * $cell,
                                                        $gx + (cx + 1) * $cell, $gy + (cy + 1) * $cell))
            ORDER BY cell
            """,  # noqa: S608 (a constant)
            grid,
        )
        n_cells = int(scalar(con, "SELECT count(*) FROM area_cells WHERE level = ?", [level]))
        con.execute("INSERT INTO area_grid VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [level, cell, grid["gx"], grid["gy"], float(x1.max()), float(y1.max()), len(x0),
                     n_cells, basis])
        con.execute("DROP TABLE _parts")
        log.info("point index of %s: %d polygons under %d cells of %.0f m", level, len(x0), n_cells, cell)
        built[level] = n_cells
    return built


def _ensure_index(con: duckdb.DuckDBPyConnection, levels: set[str]) -> None:
    """Build the index of any of ``levels`` that has none (a store made before it existed)."""
    have = {r[0] for r in con.execute("SELECT level FROM area_grid").fetchall()}
    if levels - have:
        refresh_index(con, levels - have)


def _locate_sql(con: duckdb.DuckDBPyConnection, points: str, level: str) -> tuple[str, dict[str, Any]]:
    """Return the SQL placing the points of table ``points`` (``pid, x, y``) in the areas of ``level``.

    Returns the query (``pid, code``: one row per point inside some area) and its parameters.
    """
    g = con.execute("SELECT cell_m, x0, y0, x1, y1 FROM area_grid WHERE level = ?", [level]).fetchone()
    if g is None:
        return f"SELECT pid, NULL::VARCHAR AS code FROM {points} WHERE false", {}  # noqa: S608 (our temp table)
    params = dict(zip(("cell", "gx0", "gy0", "gx1", "gy1"), g, strict=False)) | {"level": level}
    # the key is computed only for points within the grid, so no cast can overflow
    return (
        f"""
        SELECT k.pid, min(a.code) AS code
        FROM (SELECT pid, x, y,
                     CASE WHEN x BETWEEN $gx0 AND $gx1 AND y BETWEEN $gy0 AND $gy1
                          THEN floor((x - $gx0) / $cell)::BIGINT * {_ROW_SPAN}
                               + floor((y - $gy0) / $cell)::BIGINT END AS cell
              FROM {points}) k
        JOIN (SELECT cell, part_id FROM area_cells WHERE level = $level) c ON c.cell = k.cell
        JOIN (SELECT part_id, code, poly FROM area_parts WHERE level = $level) a ON a.part_id = c.part_id
        WHERE ST_Contains(a.poly, ST_Point2D(k.x, k.y))
        GROUP BY k.pid
        """,  # noqa: S608 (a constant and our temp table)
        params,
    )


def points_in_level(con: duckdb.DuckDBPyConnection, points: str, level: str) -> pd.DataFrame:
    """Place the points of table ``points`` (``pid, x, y`` in EPSG:27700) in the areas of ``level``.

    Returns ``pid, code`` for the points inside an area of the level (the others are absent).
    The index is built first if the level has none.
    """
    _ensure_index(con, {level})
    sql, params = _locate_sql(con, points, level)
    return con.execute(sql, params).df()


def study_level(con: duckdb.DuckDBPyConnection) -> str | None:
    """Return the level whose union is the study area: wards if loaded, else OAs, else coarser."""
    present = levels_present(con)
    for level in ("ward", "oa", "lsoa", "msoa", "la"):
        if level in present:
            return level
    return None


def derive_best_fit(con: duckdb.DuckDBPyConnection, ingest_id: int) -> dict[str, int]:
    """Derive best-fit lookups for every child/parent pair with polygons of both levels.

    The parent is the one containing the child's point-on-surface (as ONS's best-fit lookups
    do); failing that, the nearest within :data:`NEAREST_FALLBACK_M`. Lookups given by a file
    (method ``file``) are never overwritten. Returns the number derived per pair.
    """
    present = levels_present(con)
    derived: dict[str, int] = {}
    for child, parents in PARENTS.items():
        if child not in present:
            continue
        for parent in parents:
            if parent not in present:
                continue
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE _bf AS
                WITH c AS (SELECT code, ST_PointOnSurface(geom) AS pt FROM areas WHERE level = ?),
                     p AS (SELECT code, geom FROM areas WHERE level = ?)
                SELECT c.code AS area_code, min(p.code) AS parent_code
                FROM c JOIN p ON ST_Contains(p.geom, c.pt)
                GROUP BY c.code
                """,
                [child, parent],
            )
            con.execute(
                """
                INSERT INTO _bf
                WITH c AS (SELECT code, ST_PointOnSurface(geom) AS pt FROM areas
                           WHERE level = ? AND code NOT IN (SELECT area_code FROM _bf)),
                     p AS (SELECT code, geom FROM areas WHERE level = ?)
                SELECT area_code, parent_code FROM (
                    SELECT c.code AS area_code, p.code AS parent_code,
                           row_number() OVER (PARTITION BY c.code
                                              ORDER BY ST_Distance(p.geom, c.pt), p.code) AS rn
                    FROM c JOIN p ON ST_DWithin(p.geom, c.pt, ?)
                ) WHERE rn = 1
                """,
                [child, parent, NEAREST_FALLBACK_M],
            )
            upsert(con, "area_lookup", "_bf", ["area_code", "parent_level"],
                   values={"area_code": "area_code", "parent_level": "?", "parent_code": "parent_code",
                           "method": "'best_fit'", "ingest_id": "?"}, params=[parent, ingest_id],
                   update=["parent_code", "ingest_id"], update_where="area_lookup.method = 'best_fit'")
            derived[f"{child}->{parent}"] = int(scalar(con, "SELECT count(*) FROM _bf"))
            con.execute("DROP TABLE _bf")
    refresh_parent_codes(con)
    return derived


def refresh_parent_codes(con: duckdb.DuckDBPyConnection) -> None:
    """Fill ``areas.parent_code`` from the lookup (OA -> ward, ward -> LA, ...)."""
    for child, parent in PRIMARY_PARENT.items():
        con.execute(
            """
            UPDATE areas SET parent_code = l.parent_code
            FROM area_lookup l
            WHERE l.area_code = areas.code AND areas.level = ? AND l.parent_level = ?
              AND areas.parent_code IS DISTINCT FROM l.parent_code
            """,
            [child, parent],
        )


def assign_points(con: duckdb.DuckDBPyConnection, points: pd.DataFrame) -> pd.DataFrame:
    """Place points (``pid, x, y`` in EPSG:27700) in the loaded areas.

    Returns
    -------
    pandas.DataFrame
        ``pid, oa_code, ward_code, in_study_area`` for every input point. A point in no ward
        polygon takes its OA's best-fit ward. ``in_study_area`` is True for every point when no
        areas are loaded (there is no study area to be outside of).
    """
    con.register("_pts_in", points[["pid", "x", "y"]])
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _pts AS "
                    "SELECT pid, x::DOUBLE AS x, y::DOUBLE AS y FROM _pts_in")
    finally:
        con.unregister("_pts_in")
    present = levels_present(con)
    level = study_level(con)
    wanted = ({"oa", "ward"} & present) | ({level} if level else set())
    _ensure_index(con, wanted)
    for lvl in sorted(wanted):  # each level placed once (the study level is usually the wards)
        sql, params = _locate_sql(con, "_pts", lvl)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _in_{lvl} AS {sql}", params)  # fixed level names
    none = "(SELECT pid, NULL::VARCHAR AS code FROM _pts WHERE false)"
    oa_t = "_in_oa" if "oa" in wanted else none
    ward_t = "_in_ward" if "ward" in wanted else none
    # no areas at all: there is no study area to be outside of
    study_t = f"_in_{level}" if level else "(SELECT pid FROM _pts)"
    out = con.execute(
        f"""
        SELECT p.pid, o.code AS oa_code,
               coalesce(w.code, l.parent_code) AS ward_code,
               (s.pid IS NOT NULL) AS in_study_area
        FROM _pts p
        LEFT JOIN {oa_t} o ON o.pid = p.pid
        LEFT JOIN {ward_t} w ON w.pid = p.pid
        LEFT JOIN area_lookup l ON l.area_code = o.code AND l.parent_level = 'ward'
        LEFT JOIN {study_t} s ON s.pid = p.pid
        """  # noqa: S608 (our temp tables)
    ).df()
    for name in ["_pts", *(f"_in_{lvl}" for lvl in sorted(wanted))]:
        con.execute(f"DROP TABLE {name}")
    return out


def reassign_assets(con: duckdb.DuckDBPyConnection) -> int:
    """Recompute every asset's OA and ward after the boundaries changed; return how many moved."""
    pts = con.execute("SELECT asset_id AS pid, ST_X(geom) AS x, ST_Y(geom) AS y FROM assets").df()
    if pts.empty:
        return 0
    placed = assign_points(con, pts)
    con.register("_placed", placed)
    try:
        changed = int(scalar(con,
            """SELECT count(*) FROM assets a JOIN _placed p ON p.pid = a.asset_id
               WHERE a.ward_code IS DISTINCT FROM p.ward_code OR a.oa_code IS DISTINCT FROM p.oa_code"""
        ))
        con.execute(
            """UPDATE assets SET oa_code = p.oa_code, ward_code = p.ward_code
               FROM _placed p WHERE p.pid = assets.asset_id
                 AND (assets.ward_code IS DISTINCT FROM p.ward_code
                      OR assets.oa_code IS DISTINCT FROM p.oa_code)"""
        )
    finally:
        con.unregister("_placed")
    return changed
