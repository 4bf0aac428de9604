"""What a subscription watches in a snapshot (:func:`assetmap.alerts.picture`).

The sites in its wards and categories, their gaps, the wards' names; and which area codes a store knows.
"""

from __future__ import annotations

from typing import Any

import duckdb


def known_codes(con: duckdb.DuckDBPyConnection, level: str, codes: list[str]) -> list[str]:
    """Those of ``codes`` that are areas of ``level`` in the store."""
    return [r[0] for r in con.execute("SELECT code FROM areas WHERE level = ? AND list_contains(?, code) "
                                      "ORDER BY code", [level, codes]).fetchall()]


def sites_watched(con: duckdb.DuckDBPyConnection, wards: list[str], categories: list[str] | None,
                  also: list[str]) -> list[tuple[Any, ...]]:
    """Return the sites in ``wards`` and ``categories``, and those ``also`` names.

    ``asset_id, name, category, ward_code, x, y`` (metres, to 0.1) of the sites in ``wards`` and ``categories``
    (None: every one), and of the sites ``also`` names wherever they are.
    """
    return con.execute(
        """SELECT asset_id, name, category, ward_code, round(ST_X(geom), 1), round(ST_Y(geom), 1) FROM assets
           WHERE (list_contains(?::VARCHAR[], ward_code)
                  AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], category)))
              OR list_contains(?::VARCHAR[], asset_id)""", [wards, categories, categories, also]).fetchall()


def gaps_watched(con: duckdb.DuckDBPyConnection, wards: list[str],
                 categories: list[str] | None) -> list[tuple[str, str, float]]:
    """``ward, category, gap`` (to 4 places) of ``wards`` in ``categories`` (None: every one)."""
    return con.execute(
        """SELECT unit_code, category, round(gap, 4) FROM unit_gaps WHERE unit_level = 'ward'
             AND list_contains(?::VARCHAR[], unit_code)
             AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], category))""",
        [wards, categories, categories]).fetchall()


def ward_names(con: duckdb.DuckDBPyConnection, wards: list[str]) -> list[tuple[str, str]]:
    """``code, name`` of ``wards`` (the code where a ward has no name)."""
    return con.execute("SELECT code, coalesce(name, code) FROM areas WHERE level = 'ward' AND list_contains(?, code)",
                       [wards]).fetchall()
