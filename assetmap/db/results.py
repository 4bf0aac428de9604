"""The analysis's result tables as the recompute keeps them.

How rows are written (a table replaced whole, rows appended, rows deleted by key, ranks updated, the assets seen
remembered), and what an incremental recompute reads back of its own earlier results to know what changed.

The computation is :mod:`assetmap.analysis`; pages read the results through :mod:`assetmap.queries`.
Table and column names here come from :data:`COLUMNS` and fixed strings, never from input.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from assetmap.db.sql import scalar
from assetmap.vocab.categories import CATEGORIES

#: the columns of each result table the analysis writes, in the order it writes them
COLUMNS = {
    "unit_indices": ["unit_level", "unit_code", "focal_group", "index_name", "value", "ci_low",
                     "ci_high", "reliable", "n_oas", "computed_at"],
    "oa_inputs": ["oa_code", "x", "y", "population"] + [f"demand_{c}" for c in CATEGORIES],
    "oa_access": ["oa_code", "category", "population", "demand", "nearest_m", "nearest_asset_id",
                  "n_800", "n_1600", "e2sfca", "access_mode", "nearest_min", "crow_m"],
    "unit_access": ["unit_level", "unit_code", "category", "population", "demand", "demand_basis",
                    "nearest_m", "share_within_800", "share_within_1600", "mean_n_1600", "e2sfca",
                    "assets_in_unit", "capacity_in_unit", "computed_at", "access_mode", "nearest_min", "crow_m",
                    "supply_by_bus"],
    "unit_need": ["unit_level", "unit_code", "component", "raw", "scaled", "computed_at"],
    "unit_gaps": ["unit_level", "unit_code", "category", "need", "supply", "gap", "rank",
                  "components", "flags", "strengths", "computed_at"],
    "unit_languages": ["unit_level", "unit_code", "language", "speakers", "share", "covered", "language_gap",
                       "providers", "rank", "basis", "computed_at"],
    "oa_ptal": ["oa_code", "ptal_ai", "ptal_band", "walk_mode", "routes", "computed_at"],
    "oa_ptal_routes": ["oa_code", "route_id", "route_name", "mode", "stop_id", "walk_m", "frequency", "tat_min",
                       "edf", "weight"],
    "unit_ptal": ["unit_level", "unit_code", "ptal_ai", "ptal_band", "oas", "residents", "computed_at"],
}


# -- writing ---------------------------------------------------------------------------------

def insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, into: str | None = None) -> None:
    """Append ``frame``'s rows to ``table`` (or to ``into``, a table of the same shape)."""
    cols = COLUMNS[table]
    con.register("_frame", frame[cols])
    try:
        # table and column names come from the fixed map above, never from input
        con.execute(f"INSERT INTO {into or table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _frame")  # noqa: S608
    finally:
        con.unregister("_frame")


def delete_keys(con: duckdb.DuckDBPyConnection, table: str, keys: pd.DataFrame) -> None:
    """Delete the rows of ``table`` whose key columns equal a row of ``keys``."""
    con.register("_keys", keys)
    try:
        cond = " AND ".join(f"t.{c} = k.{c}" for c in keys.columns)
        con.execute(f"DELETE FROM {table} t USING _keys k WHERE {cond}")  # noqa: S608 (our tables and key columns)
    finally:
        con.unregister("_keys")


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | None,
                  keep: str | None = None, params: list[Any] | None = None) -> None:
    """Replace the rows of result table ``table`` with ``frame``.

    Replace the rows of result table ``table`` with ``frame`` (keeping those that ``keep``, a fixed SQL
    condition, selects): a new table of the same definition is filled and swapped in. DuckDB takes seconds to
    delete a million indexed rows and no time to drop a table.
    """
    ddl = scalar(con, "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?", [table])
    new = f"{table}__new"
    made = str(ddl).replace(f"CREATE TABLE {table}(", f"CREATE TABLE {new}(", 1)
    if made == ddl:
        msg = f"cannot rebuild {table}: unexpected definition"
        raise RuntimeError(msg)
    con.execute(made)
    if keep:
        con.execute(f"INSERT INTO {new} SELECT * FROM {table} WHERE {keep}", params or [])  # noqa: S608 (fixed)
    if frame is not None and not frame.empty:
        insert(con, table, frame, into=new)
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {new} RENAME TO {table}")


def write_analysed_assets(con: duckdb.DuckDBPyConnection, asset_ids: list[str] | None = None) -> None:
    """Remember the assets as the analysis now sees them (all, or those given)."""
    if asset_ids is None:
        replace_table(con, "analysed_assets", None)
        con.execute("""INSERT INTO analysed_assets SELECT asset_id, category, ST_X(geom), ST_Y(geom), capacity
                       FROM asset_supply WHERE geom IS NOT NULL""")
        return
    con.execute("DELETE FROM analysed_assets WHERE list_contains(?, asset_id)", [asset_ids])
    con.execute("""INSERT INTO analysed_assets SELECT asset_id, category, ST_X(geom), ST_Y(geom), capacity
                   FROM asset_supply WHERE geom IS NOT NULL AND list_contains(?, asset_id)""", [asset_ids])


def delete_unit_languages(con: duckdb.DuckDBPyConnection, level: str, units: list[str]) -> None:
    """Delete the language rows of ``units`` at ``level``."""
    con.execute("DELETE FROM unit_languages WHERE unit_level = ? AND list_contains(?, unit_code)", [level, units])


def update_ranks(con: duckdb.DuckDBPyConnection, level: str, ranks: pd.DataFrame) -> None:
    """Set the rank and flags of the ``unit_gaps`` rows in ``ranks`` at ``level``.

    Set the rank and flags of the ``unit_gaps`` rows in ``ranks`` (``unit_code, category, rank, flags``) at
    ``level``.
    """
    con.register("_rf", ranks[["unit_code", "category", "rank", "flags"]])
    try:
        con.execute(
            """UPDATE unit_gaps SET rank = r.rank, flags = r.flags FROM _rf r
               WHERE unit_gaps.unit_level = ? AND unit_gaps.unit_code = r.unit_code
                 AND unit_gaps.category = r.category""", [level])
    finally:
        con.unregister("_rf")


def replace_gaps_as_at(con: duckdb.DuckDBPyConnection, when: Any, level: str, rows: pd.DataFrame) -> None:
    """Replace the gaps as at ``when`` at ``level`` with ``rows`` (``unit_gaps_as_at`` columns)."""
    con.execute("DELETE FROM unit_gaps_as_at WHERE as_at = ? AND unit_level = ?", [when, level])
    con.register("_g", rows)
    try:
        con.execute("INSERT INTO unit_gaps_as_at BY NAME SELECT * FROM _g")
    finally:
        con.unregister("_g")


# -- what an incremental recompute reads back ----------------------------------------------------

def stored_oa_inputs(con: duckdb.DuckDBPyConnection, demand: list[str]) -> pd.DataFrame:
    """Return the OA inputs the last full recompute saw, OAs sorted.

    Return the OA inputs the last full recompute saw (``oa_code, x, y, population`` and the ``demand`` columns
    named, each ``demand_<category>``), OAs sorted.
    """
    unknown = [c for c in demand if c not in COLUMNS["oa_inputs"]]
    if unknown:
        msg = f"no such column of oa_inputs: {unknown}"
        raise ValueError(msg)
    cols = ", ".join(["oa_code", "x", "y", "population", *demand])
    return pd.DataFrame(con.execute(f"SELECT {cols} FROM oa_inputs ORDER BY oa_code").fetchnumpy())  # noqa: S608


def stored_demand_basis(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Category -> what its stored demand counted (``demand_basis``)."""
    return dict(con.execute("SELECT category, any_value(demand_basis) FROM unit_access GROUP BY 1").fetchall())


def stored_levels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the unit levels the stored results cover."""
    return [r[0] for r in con.execute("SELECT DISTINCT unit_level FROM unit_access ORDER BY 1").fetchall()]


def stored_access_modes(con: duckdb.DuckDBPyConnection) -> set[str]:
    """How the stored OA access was measured (``access_mode`` values)."""
    return {r[0] for r in con.execute("SELECT DISTINCT access_mode FROM oa_access").fetchall()}


def stored_supply_by_bus(con: duckdb.DuckDBPyConnection) -> bool | None:
    """Whether the stored results counted providers a walk and one bus away (None: no results)."""
    got = scalar(con, "SELECT bool_or(supply_by_bus) FROM unit_access")
    return None if got is None else bool(got)


def results_older_than_network(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the walking network was loaded after the stored results were computed (or either is missing)."""
    seen = scalar(con, "SELECT max(computed_at) FROM unit_access")
    loaded = scalar(con, "SELECT max(loaded_at) FROM network_info")
    return seen is None or loaded is None or loaded > seen


def changed_counts(con: duckdb.DuckDBPyConnection, level: str,
                   categories: list[str] | None = None) -> set[tuple[str, str]]:
    """Return the (unit, category) pairs whose number or capacity of assets differs from what ``unit_access`` holds.

    Where assets were added, moved from or to, or closed (in ``categories``, when given).
    """
    unit = "a.ward_code" if level == "ward" else "l.parent_code"
    join = "" if level == "ward" else \
        "JOIN area_lookup l ON l.area_code = a.oa_code AND l.parent_level = $level"
    # the unit expression is one of two fixed strings, never input
    rows = con.execute(
        f"""
        WITH now AS (
            SELECT {unit} AS unit_code, a.category, count(*) AS n, sum(a.capacity) AS c
            FROM asset_supply a {join} WHERE a.geom IS NOT NULL AND {unit} IS NOT NULL
              AND ($cats IS NULL OR list_contains($cats, a.category)) GROUP BY ALL),
        old AS (SELECT unit_code, category, assets_in_unit AS n, capacity_in_unit AS c
                FROM unit_access WHERE unit_level = $level AND ($cats IS NULL OR list_contains($cats, category)))
        SELECT DISTINCT coalesce(now.unit_code, old.unit_code), coalesce(now.category, old.category)
        FROM now FULL OUTER JOIN old ON now.unit_code = old.unit_code AND now.category = old.category
        WHERE coalesce(now.n, 0) <> coalesce(old.n, 0) OR abs(coalesce(now.c, 0) - coalesce(old.c, 0)) > 1e-9
        """, {"level": level, "cats": categories}).fetchall()  # noqa: S608
    return {(r[0], r[1]) for r in rows}


def stored_nearest(con: duckdb.DuckDBPyConnection, category: str, moved: list[str]) -> dict[str, np.ndarray]:
    """Each OA's stored nearest asset of ``category`` (in OA code order).

    ``nearest_m``, ``nearest_min``, ``access_mode``, and ``lost`` (its nearest asset is gone or in ``moved``).
    """
    return con.execute(
        """SELECT o.nearest_m, o.nearest_min, o.access_mode,
                  o.nearest_asset_id IS NOT NULL AND (a.asset_id IS NULL OR list_contains(?, o.nearest_asset_id))
                  AS lost
           FROM oa_access o LEFT JOIN assets a ON a.asset_id = o.nearest_asset_id AND a.category = o.category
           WHERE o.category = ? ORDER BY o.oa_code""", [moved, category]).fetchnumpy()


def stored_unit_rows(con: duckdb.DuckDBPyConnection, level: str, units: set[str]) -> pd.DataFrame:
    """Return the stored ``oa_access`` rows of the OAs in ``units``."""
    return con.execute(
        """SELECT o.* FROM oa_access o JOIN area_lookup l ON l.area_code = o.oa_code
           AND l.parent_level = ? WHERE list_contains(?, l.parent_code)""",
        [level, sorted(units)]).df()


def stored_need(con: duckdb.DuckDBPyConnection, level: str, units: set[str]) -> pd.DataFrame:
    """Return the stored need components (``unit_code, component, raw, scaled``) of ``units``."""
    return con.execute("SELECT unit_code, component, raw, scaled FROM unit_need WHERE unit_level = ? "
                       "AND list_contains(?, unit_code)", [level, sorted(units)]).df()


def changed_assets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """Return the assets that differ from what the analysis last saw.

    Return the assets that differ from what the analysis last saw (moved, opened, closed, another capacity or
    category): ``asset_id, old_category, new_category, ox, oy, nx, ny``. None when the store keeps no record of
    what it saw (results from before it did).
    """
    if not scalar(con, "SELECT EXISTS (SELECT 1 FROM analysed_assets)"):
        return None
    return con.execute(
        """SELECT coalesce(n.asset_id, o.asset_id) AS asset_id, o.category AS old_category,
                  n.category AS new_category, o.x AS ox, o.y AS oy, n.x AS nx, n.y AS ny
           FROM (SELECT asset_id, category, ST_X(geom) AS x, ST_Y(geom) AS y, capacity
                 FROM asset_supply WHERE geom IS NOT NULL) n
           FULL OUTER JOIN analysed_assets o ON o.asset_id = n.asset_id
           WHERE n.asset_id IS NULL OR o.asset_id IS NULL OR n.x <> o.x OR n.y <> o.y
              OR n.capacity <> o.capacity OR n.category <> o.category
           ORDER BY 1""").df()


def ranking_rows(con: duckdb.DuckDBPyConnection, level: str,
                 categories: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return what ranking reads of every unit at ``level`` in ``categories``.

    The gaps (``unit_code, category, need, supply, gap, rank, flags``) and the access (``unit_code, category,
    demand, share_within_1600``).
    """
    gaps = con.execute("SELECT unit_code, category, need, supply, gap, rank, flags FROM unit_gaps "
                       "WHERE unit_level = ? AND list_contains(?, category)", [level, categories]).df()
    access_rows = con.execute("SELECT unit_code, category, demand, share_within_1600 FROM unit_access "
                              "WHERE unit_level = ? AND list_contains(?, category)", [level, categories]).df()
    return gaps, access_rows
