"""Spatial operations on the store's areas: points in areas, best-fit lookups, the study area.

All of it runs in DuckDB spatial (its SPATIAL_JOIN operator uses an R-tree), inside the
caller's transaction.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

log = logging.getLogger(__name__)

#: For each child level, the parent levels a best-fit lookup is derived for.
PARENTS = {"oa": ("lsoa", "msoa", "ward", "la"), "lsoa": ("msoa", "la"), "msoa": ("la",),
           "ward": ("la",)}
#: The parent that fills ``areas.parent_code`` for each level.
PRIMARY_PARENT = {"oa": "ward", "lsoa": "msoa", "msoa": "la", "ward": "la"}
#: A child whose point-on-surface falls in no parent takes the nearest parent within this.
NEAREST_FALLBACK_M = 1000.0


def levels_present(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT DISTINCT level FROM areas").fetchall()}


def study_level(con: duckdb.DuckDBPyConnection) -> str | None:
    """The level whose union is the study area: wards if loaded, else OAs, else coarser."""
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
            con.execute(
                """
                INSERT INTO area_lookup (area_code, parent_level, parent_code, method, ingest_id)
                SELECT area_code, ?, parent_code, 'best_fit', ? FROM _bf
                ON CONFLICT (area_code, parent_level) DO UPDATE
                    SET parent_code = excluded.parent_code, ingest_id = excluded.ingest_id
                    WHERE area_lookup.method = 'best_fit'
                """,
                [parent, ingest_id],
            )
            derived[f"{child}->{parent}"] = int(con.execute("SELECT count(*) FROM _bf").fetchone()[0])
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
        ``pid, oa_code, ward_code, in_study_area`` for every input point. ``in_study_area`` is
        True for every point when no areas are loaded (there is no study area to be outside of).
    """
    con.register("_pts_in", points[["pid", "x", "y"]])
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _pts AS "
                    "SELECT pid, ST_Point(x, y) AS geom FROM _pts_in")
    finally:
        con.unregister("_pts_in")
    present = levels_present(con)
    level = study_level(con)

    def contained(lvl: str) -> str:
        return (f"SELECT p.pid, min(a.code) AS code FROM _pts p JOIN "
                f"(SELECT code, geom FROM areas WHERE level = '{lvl}') a "
                f"ON ST_Contains(a.geom, p.geom) GROUP BY p.pid")

    # level names are from a fixed tuple, never user input
    oa_sql = contained("oa") if "oa" in present else "SELECT pid, NULL::VARCHAR AS code FROM _pts WHERE false"
    ward_sql = contained("ward") if "ward" in present else "SELECT pid, NULL::VARCHAR AS code FROM _pts WHERE false"
    study_sql = contained(level) if level else "SELECT pid, NULL AS code FROM _pts"
    out = con.execute(
        f"""
        WITH o AS ({oa_sql}), w AS ({ward_sql}), s AS ({study_sql})
        SELECT p.pid, o.code AS oa_code,
               coalesce(w.code, l.parent_code) AS ward_code,
               (s.pid IS NOT NULL) AS in_study_area
        FROM _pts p
        LEFT JOIN o ON o.pid = p.pid
        LEFT JOIN w ON w.pid = p.pid
        LEFT JOIN area_lookup l ON l.area_code = o.code AND l.parent_level = 'ward'
        LEFT JOIN s ON s.pid = p.pid
        """
    ).df()
    con.execute("DROP TABLE _pts")
    return out


def reassign_assets(con: duckdb.DuckDBPyConnection) -> int:
    """Recompute every asset's OA and ward after the boundaries changed; return how many moved."""
    pts = con.execute("SELECT asset_id AS pid, ST_X(geom) AS x, ST_Y(geom) AS y FROM assets").df()
    if pts.empty:
        return 0
    placed = assign_points(con, pts)
    con.register("_placed", placed)
    try:
        changed = int(con.execute(
            """SELECT count(*) FROM assets a JOIN _placed p ON p.pid = a.asset_id
               WHERE a.ward_code IS DISTINCT FROM p.ward_code OR a.oa_code IS DISTINCT FROM p.oa_code"""
        ).fetchone()[0])
        con.execute(
            """UPDATE assets SET oa_code = p.oa_code, ward_code = p.ward_code
               FROM _placed p WHERE p.pid = assets.asset_id
                 AND (assets.ward_code IS DISTINCT FROM p.ward_code
                      OR assets.oa_code IS DISTINCT FROM p.oa_code)"""
        )
    finally:
        con.unregister("_placed")
    return changed
