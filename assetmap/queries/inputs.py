"""What the analysis reads of the store (:mod:`assetmap.analysis`).

Census counts pivoted per output area, the OAs' points, the assets as supply, each OA's unit, and the main languages
spoken beside the languages providers offer. Used as a module (``from assetmap.queries import inputs``).

Values are parameters; the SQL put together here joins fixed fragments and numbered parameter
names, never a value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from assetmap.vocab.units import OA_RE

# -- census --------------------------------------------------------------------------------------

def _study_filter(within: str | None) -> str:
    """Return the SQL restricting ``area_code`` to the study's OAs (fixed SQL; the level is ``$level``)."""
    if within == "oa":
        return "AND area_code IN (SELECT code FROM areas WHERE level = 'oa')"
    if within == "study":  # OAs with a polygon or a unit at any level
        return ("AND (area_code IN (SELECT code FROM areas WHERE level = 'oa') "
                "OR area_code IN (SELECT area_code FROM area_lookup))")
    if within is not None:
        return "AND area_code IN (SELECT area_code FROM area_lookup WHERE parent_level = $level)"
    return ""


def census_categories(con: duckdb.DuckDBPyConnection, variable: str) -> list[str]:
    """Return the categories of a census variable, sorted (none when it is not loaded)."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT category FROM population WHERE variable = ? ORDER BY 1", [variable]).fetchall()]


def census_pivot(con: duckdb.DuckDBPyConnection, variable: str, categories: list[str],
                 within: str | None = None) -> dict[str, np.ndarray]:
    """Return the counts of ``variable`` per OA (latest vintage per OA), OAs sorted.

    ``area_code`` and one column ``c{i}`` per category ``categories[i]``, pivoted in DuckDB. ``within`` as
    :func:`assetmap.analysis.inputs.load_counts` takes it.
    """
    row = con.execute("SELECT count(DISTINCT vintage) FROM population WHERE variable = ?", [variable]).fetchone()
    # one vintage (the usual case): no latest-vintage window over every row of the variable
    latest = "QUALIFY vintage = max(vintage) OVER (PARTITION BY area_code)" if row and row[0] > 1 else ""
    # one column per category, named by position: the categories are values, passed as parameters
    sums = ", ".join(f"sum(count) FILTER (WHERE category = $c{i})::DOUBLE AS c{i}" for i in range(len(categories)))
    params: dict[str, object] = {f"c{i}": c for i, c in enumerate(categories)}
    params |= {"variable": variable, "oa_re": OA_RE}
    if within not in (None, "oa", "study"):
        params["level"] = within
    sql = f"""
        SELECT area_code, {sums} FROM (
            SELECT area_code, category, count FROM population
            WHERE variable = $variable AND regexp_matches(area_code, $oa_re) {_study_filter(within)}
            {latest})
        GROUP BY area_code ORDER BY area_code"""  # noqa: S608 (fixed SQL; categories and filters are parameters)
    return con.execute(sql, params).fetchnumpy()


def has_main_language(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the main-language census table is loaded."""
    row = con.execute("SELECT EXISTS (SELECT 1 FROM population WHERE variable = 'main_language')").fetchone()
    return bool(row and row[0])


# -- places --------------------------------------------------------------------------------------

def oa_points(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``oa_code, x, y``: each OA's point on surface (EPSG:27700), OAs sorted."""
    return con.execute(
        """SELECT code AS oa_code, ST_X(p) AS x, ST_Y(p) AS y FROM (
               SELECT code, ST_PointOnSurface(geom) AS p FROM areas WHERE level = 'oa')
           ORDER BY code""").df()


def supply_assets(con: duckdb.DuckDBPyConnection, categories: list[str] | None = None, as_at: Any = None,
                  public_only: bool = False) -> pd.DataFrame:
    """Return the located assets open now (or at a past moment) as supply, by id.

    ``asset_id, category, x, y, oa_code, ward_code, supply`` of the located assets open now (or ``as_at`` a past
    moment, from their history), of ``categories`` (None: all), the public ones only with ``public_only``; by
    id.
    """
    source, params = ("asset_supply", []) if as_at is None else ("assets_as_at(?)", [as_at])
    return con.execute(
        f"""SELECT asset_id, category, ST_X(geom) AS x, ST_Y(geom) AS y, oa_code, ward_code, capacity AS supply
           FROM {source} WHERE geom IS NOT NULL AND (? IS NULL OR list_contains(?, category))
             AND NOT (? AND sensitive)
           ORDER BY asset_id""", [*params, categories, categories or [], public_only]  # noqa: S608 (fixed names)
    ).df()


def every_place(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Every place a recompute may walk to (x, y): each asset, open or not, and each stop."""
    got = con.execute("""SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM assets WHERE geom IS NOT NULL
                         UNION ALL SELECT x, y FROM transit_stops""").fetchnumpy()
    return np.column_stack([np.asarray(got["x"], float), np.asarray(got["y"], float)])


# -- units ---------------------------------------------------------------------------------------

def oa_units(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """``area_code, parent_code``: each OA's unit at ``level`` (from the lookups, file or best fit)."""
    return con.execute(
        "SELECT area_code, parent_code FROM area_lookup WHERE parent_level = ? AND regexp_matches(area_code, ?)",
        [level, OA_RE]).df()


def oa_unit_levels(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Return the unit levels the OAs have a lookup to."""
    return {r[0] for r in con.execute(
        "SELECT DISTINCT parent_level FROM area_lookup WHERE regexp_matches(area_code, ?)", [OA_RE]).fetchall()}


def oa_lookups(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``area_code, parent_level, parent_code``: each OA's unit at every level."""
    return con.execute("SELECT area_code, parent_level, parent_code FROM area_lookup "
                       "WHERE regexp_matches(area_code, ?)", [OA_RE]).df()


def units_of(con: duckdb.DuckDBPyConnection, level: str, oas: Iterable[str] = (),
             units: Iterable[str] = ()) -> pd.DataFrame:
    """``area_code, parent_code`` at ``level`` of the given OAs, and of every OA of the given units."""
    return con.execute(
        """SELECT area_code, parent_code FROM area_lookup WHERE parent_level = ?
           AND (list_contains(?, area_code) OR list_contains(?, parent_code))""",
        [level, sorted(set(oas)), sorted(set(units))]).df()


# -- languages -----------------------------------------------------------------------------------

def provider_languages(con: duckdb.DuckDBPyConnection, categories: list[str],
                       bounds: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Return the providers of ``categories`` that list languages, with their languages as JSON.

    ``asset_id, x, y, langs`` (the ``languages`` attribute as JSON text) of the providers of ``categories`` that
    list languages (those within ``bounds``, EPSG:27700, when given).
    """
    lo_x, lo_y, hi_x, hi_y = bounds if bounds is not None else (None, None, None, None)
    return con.execute(
        """SELECT asset_id, ST_X(geom) AS x, ST_Y(geom) AS y, json_extract(attrs, '$.languages')::VARCHAR AS langs
           FROM assets WHERE list_contains(?, category) AND json_extract(attrs, '$.languages') IS NOT NULL
             AND (?::DOUBLE IS NULL OR ST_X(geom) BETWEEN ? AND ?)
             AND (?::DOUBLE IS NULL OR ST_Y(geom) BETWEEN ? AND ?)""",
        [categories, lo_x, lo_x, hi_x, lo_y, lo_y, hi_y]).df()


def languages_spoken(con: duckdb.DuckDBPyConnection, units: pd.DataFrame, points: pd.DataFrame | None,
                     languages: list[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Return the main languages spoken in the OAs of ``units``, with each OA's point.

    Return the main languages spoken in the OAs of ``units`` (``oa_code, k``: each OA's unit as a number), with
    each OA's point (``points``, ``oa_code, x, y``; found here when None).

    Returns the points (numbered ``pt``) and, for each OA and language of ``languages`` (latest
    vintage per OA): ``k``, ``lang`` (its position in ``languages``), ``n`` (speakers),
    ``residents`` (of the unit), ``x``, ``y``, ``pt``; as arrays, so that millions of rows stay cheap.
    """
    con.register("_lang_units", units)
    try:
        if points is None:
            points = con.execute(
                """SELECT code AS oa_code, ST_X(p) AS x, ST_Y(p) AS y FROM (
                       SELECT a.code, ST_PointOnSurface(a.geom) AS p FROM areas a
                       JOIN _lang_units u ON u.oa_code = a.code WHERE a.level = 'oa')""").df()
        points = points[["oa_code", "x", "y"]].reset_index(drop=True).assign(pt=lambda d: np.arange(len(d)))
        con.register("_lang_points", points)
        # the OAs asked for first, then each one's latest vintage (an incremental recompute asks
        # for a few); each unit's residents beside each row
        rows = con.execute(
            """WITH sp AS (SELECT p.area_code, u.k, p.category, p.count FROM population p
                           JOIN _lang_units u ON u.oa_code = p.area_code
                           WHERE p.variable = 'main_language' AND p.count > 0
                           QUALIFY p.vintage = max(p.vintage) OVER (PARTITION BY p.area_code)),
                    t AS (SELECT sp.*, sum(sp.count) OVER (PARTITION BY sp.k) AS residents FROM sp)
               SELECT t.k, list_position(?, t.category) - 1 AS lang, t.count::DOUBLE AS n,
                      t.residents::DOUBLE AS residents, pt.x, pt.y, pt.pt
               FROM t JOIN _lang_points pt ON pt.oa_code = t.area_code
               WHERE list_contains(?, t.category)""", [languages, languages]).fetchnumpy()
    finally:
        con.unregister("_lang_units")
        with contextlib.suppress(Exception):
            con.unregister("_lang_points")
    return points, rows
