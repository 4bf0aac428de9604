"""Writing a reader's rows into the store: the helpers more than one writer uses."""

from __future__ import annotations

import duckdb
import pandas as pd


def wards_of_areas(con: duckdb.DuckDBPyConnection, codes: list[str]) -> list[str]:
    """Return the wards the areas ``codes`` are, or lie in (through the lookups)."""
    if not codes:
        return []
    con.register("_codes", pd.DataFrame({"code": codes}))
    try:
        rows = con.execute(
            """
            SELECT DISTINCT w FROM (
                SELECT a.code AS w FROM areas a JOIN _codes c ON c.code = a.code WHERE a.level = 'ward'
                UNION ALL
                SELECT l.parent_code FROM area_lookup l JOIN _codes c ON c.code = l.area_code
                WHERE l.parent_level = 'ward'
            ) WHERE w IS NOT NULL ORDER BY w
            """
        ).fetchall()
    finally:
        con.unregister("_codes")
    return [r[0] for r in rows]

def upsert_lookup(con: duckdb.DuckDBPyConnection, lookup: pd.DataFrame, ingest_id: int) -> None:
    """Store (or replace) the OA -> parent lookups read from a file.

    An update of the lookups the store has (a best fit derived from boundaries, an older file)
    and an append of the rest: DuckDB's ``ON CONFLICT DO UPDATE`` takes 14 s for the two parents
    of the 190,000 OAs of a national lookup, this about half a second.
    """
    con.register("_lk", lookup[["area_code", "parent_level", "parent_code"]])
    try:
        # the parent where it differs (a best fit is mostly right: few rows), then the provenance of
        # every row the file gives: DuckDB rewrites a changed string column slowly, constants fast
        con.execute(
            """
            UPDATE area_lookup SET parent_code = k.parent_code
            FROM (SELECT DISTINCT ON (area_code, parent_level) area_code, parent_level, parent_code FROM _lk) k
            WHERE area_lookup.area_code = k.area_code AND area_lookup.parent_level = k.parent_level
              AND area_lookup.parent_code <> k.parent_code
            """
        )
        con.execute(
            """
            UPDATE area_lookup SET method = 'file', ingest_id = $ingest
            FROM (SELECT DISTINCT area_code, parent_level FROM _lk) k
            WHERE area_lookup.area_code = k.area_code AND area_lookup.parent_level = k.parent_level
            """,
            {"ingest": ingest_id},
        )
        con.execute(
            """
            INSERT INTO area_lookup (area_code, parent_level, parent_code, method, ingest_id)
            SELECT DISTINCT ON (area_code, parent_level) area_code, parent_level, parent_code, 'file', $ingest
            FROM _lk k
            WHERE NOT EXISTS (SELECT 1 FROM area_lookup a
                              WHERE a.area_code = k.area_code AND a.parent_level = k.parent_level)
            """,
            {"ingest": ingest_id},
        )
    finally:
        con.unregister("_lk")
