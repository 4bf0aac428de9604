"""History: openings, closures and moves, and the gap then and now."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

CHANGE_KINDS = ("opened", "reopened", "moved", "closed")


def changes(con: duckdb.DuckDBPyConnection, start: Any = None, end: Any = None, category: str | None = None,
            partner: bool = False) -> pd.DataFrame:
    """The openings, reopenings, moves and closures that took effect after ``start`` and up to
    ``end`` (either may be None), newest first, each with its ward (where it was for a closure,
    where it went for a move) and, for a move, how far. Sensitive sites only for ``partner`` (a
    public snapshot holds none)."""
    return con.execute(
        """SELECT v.valid_from AS at, v.change, v.category, v.name, v.asset_id, v.ward_code,
                  w.name AS ward_name, v.sensitive, v.source,
                  CASE WHEN v.change = 'moved' THEN round(ST_Distance(p.geom, v.geom)) END AS moved_m,
                  ST_Y(ST_Transform(v.geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lat,
                  ST_X(ST_Transform(v.geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lon
           FROM asset_versions v
           LEFT JOIN asset_versions p ON p.asset_id = v.asset_id AND p.version = v.version - 1
           LEFT JOIN areas w ON w.level = 'ward' AND w.code = v.ward_code
           WHERE v.change IN ('opened', 'reopened', 'moved', 'closed')
             AND (?::TIMESTAMP IS NULL OR v.valid_from > ?::TIMESTAMP)
             AND (?::TIMESTAMP IS NULL OR v.valid_from <= ?::TIMESTAMP)
             AND (?::VARCHAR IS NULL OR v.category = ?::VARCHAR)
             AND (? OR NOT v.sensitive)
           ORDER BY v.valid_from DESC, v.ward_code, v.category, v.name""",
        [start, start, end, end, category, category, partner]).df()


def changes_by_ward(frame: pd.DataFrame) -> pd.DataFrame:
    """Openings, closures and moves counted per ward and category (from :func:`changes`)."""
    if frame.empty:
        return pd.DataFrame(columns=["ward_code", "ward_name", "category", *CHANGE_KINDS, "net"])
    out = (frame.assign(n=1).pivot_table(index=["ward_code", "ward_name", "category"], columns="change",
                                           values="n", aggfunc="sum", fill_value=0, dropna=False)
           .reindex(columns=list(CHANGE_KINDS), fill_value=0).reset_index())
    out = out[out[list(CHANGE_KINDS)].sum(axis=1) > 0]
    out["net"] = out["opened"] + out["reopened"] - out["closed"]
    return out.sort_values(["net", "ward_code"]).reset_index(drop=True)


def provision_timeline(con: duckdb.DuckDBPyConnection, categories: list[str] | None = None,
                       partner: bool = False) -> pd.DataFrame:
    """Sites open per category at every moment provision changed (a step series for a chart)."""
    return con.execute(
        """WITH v AS (SELECT * FROM asset_versions WHERE (? OR NOT sensitive)
                        AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], category))),
                d AS (SELECT DISTINCT valid_from AS at FROM v)
           SELECT d.at, c.category, count(v.asset_id) FILTER (WHERE v.status = 'open') AS open_sites
           FROM d CROSS JOIN (SELECT DISTINCT category FROM v) c
           LEFT JOIN v ON v.category = c.category AND v.valid_from <= d.at AND (v.valid_to IS NULL OR v.valid_to > d.at)
           GROUP BY ALL ORDER BY d.at, c.category""", [partner, categories, categories]).df()


def as_at_moments(con: duckdb.DuckDBPyConnection) -> list[Any]:
    """The past moments gaps were computed for (``recompute --as-at``), newest first."""
    return [r[0] for r in con.execute("SELECT DISTINCT as_at FROM unit_gaps_as_at ORDER BY 1 DESC").fetchall()]


def gaps_then_and_now(con: duckdb.DuckDBPyConnection, as_at: Any, category: str, level: str = "ward",
                      code: str | None = None) -> pd.DataFrame:
    """Each unit's gap (and sites in it) as at ``as_at`` beside today's, biggest rise first."""
    return con.execute(
        """SELECT t.unit_code AS code, a.name, t.gap AS gap_then, g.gap AS gap_now, g.gap - t.gap AS change,
                  t.supply AS supply_then, g.supply AS supply_now, t.assets AS sites_then,
                  x.assets_in_unit AS sites_now, t.rank AS rank_then, g.rank AS rank_now
           FROM unit_gaps_as_at t
           LEFT JOIN unit_gaps g USING (unit_level, unit_code, category)
           LEFT JOIN unit_access x USING (unit_level, unit_code, category)
           LEFT JOIN areas a ON a.level = t.unit_level AND a.code = t.unit_code
           WHERE t.as_at = ? AND t.category = ? AND t.unit_level = ?
             AND (?::VARCHAR IS NULL OR t.unit_code = ?::VARCHAR)
           ORDER BY change DESC NULLS LAST, code""", [as_at, category, level, code, code]).df()


