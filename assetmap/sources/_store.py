"""Writing a reader's rows into the store: the helpers more than one writer uses."""

from __future__ import annotations

import duckdb
import pandas as pd


def wards_of_areas(con: duckdb.DuckDBPyConnection, codes: list[str]) -> list[str]:
    """The wards the areas ``codes`` are, or lie in (through the lookups)."""
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
    """Store (or replace) the OA -> parent lookups read from a file."""
    con.register("_lk", lookup[["area_code", "parent_level", "parent_code"]])
    try:
        con.execute(
            """
            INSERT INTO area_lookup (area_code, parent_level, parent_code, method, ingest_id)
            SELECT DISTINCT ON (area_code, parent_level) area_code, parent_level, parent_code, 'file', ?
            FROM _lk
            ON CONFLICT (area_code, parent_level) DO UPDATE
                SET parent_code = excluded.parent_code, method = 'file', ingest_id = excluded.ingest_id
            """,
            [ingest_id],
        )
    finally:
        con.unregister("_lk")
