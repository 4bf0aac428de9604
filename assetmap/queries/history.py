"""History: openings, closures and moves, and the gap then and now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:  # imported where a frame is made, so the command line's listing does without it
    import pandas as pd

CHANGE_KINDS = ("opened", "reopened", "moved", "closed")


#: The openings, reopenings, moves and closures in a period: no spatial function, so the command line
#: reads the store without loading the extension (parameters: start twice, end twice, category twice).
_CHANGES_SQL = """SELECT v.valid_from AS at, v.change, v.category, v.name, v.asset_id, v.version, v.ward_code,
                  w.name AS ward_name, v.sensitive, v.source, round(v.moved_m) AS moved_m
           FROM asset_versions v
           LEFT JOIN areas w ON w.level = 'ward' AND w.code = v.ward_code
           WHERE v.change IN ('opened', 'reopened', 'moved', 'closed')
             AND (?::TIMESTAMP IS NULL OR v.valid_from > ?::TIMESTAMP)
             AND (?::TIMESTAMP IS NULL OR v.valid_from <= ?::TIMESTAMP)
             AND (?::VARCHAR IS NULL OR v.category = ?::VARCHAR)
           ORDER BY v.valid_from DESC, v.ward_code, v.category, v.name"""

#: Where each of them happened (WGS84), what a map of them adds (needs the spatial extension).
_CHANGE_PLACES_SQL = """SELECT asset_id, version,
                  ST_Y(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lat,
                  ST_X(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lon
           FROM asset_versions WHERE change IN ('opened', 'reopened', 'moved', 'closed')"""


def _listed(con: duckdb.DuckDBPyConnection, start: Any, end: Any, category: str | None) -> duckdb.DuckDBPyConnection:
    return con.execute(_CHANGES_SQL, [start, start, end, end, category, category])


def changes(con: duckdb.DuckDBPyConnection, start: Any = None, end: Any = None, category: str | None = None,
            partner: bool = False) -> pd.DataFrame:
    """Return the openings, reopenings, moves and closures between ``start`` and ``end``.

    Return the openings, reopenings, moves and closures that took effect after ``start`` and up to ``end``
    (either may be None), newest first, each with its ward (where it was for a closure, where it went for a
    move), where it is (``lat``, ``lon``) and, for a move, how far. Sensitive sites only for ``partner`` (a
    public snapshot holds none). Needs the spatial extension.
    """
    frame = _listed(con, start, end, category).df()
    if not partner:
        frame = frame[~frame["sensitive"].astype(bool)]
    return frame.merge(con.execute(_CHANGE_PLACES_SQL).df(), on=["asset_id", "version"], how="left")


def change_records(con: duckdb.DuckDBPyConnection, start: Any = None, end: Any = None,
                   category: str | None = None, partner: bool = False) -> list[dict[str, Any]]:
    """:func:`changes` as plain records without where each site is (``moved_m`` None unless moved).

    What the command line prints: neither pandas nor the spatial extension is needed. (DuckDB's Python client
    imports pandas to bind any parameter that is not None, 0.2 s; without a period or a category, none is.)
    """
    cur = _listed(con, start, end, category)
    names = [d[0] for d in cur.description or ()]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return rows if partner else [r for r in rows if not r["sensitive"]]


def tally_by_ward(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the openings, reopenings, moves and closures counted per ward and category.

    Return the openings, reopenings, moves and closures counted per ward and category, and the net (opened +
    reopened - closed), fewest net first, then by ward code (no ward last).
    """
    counts: dict[tuple[Any, Any, Any], dict[str, int]] = {}
    for r in records:
        key = (r["ward_code"], r["ward_name"], r["category"])
        row = counts.setdefault(key, dict.fromkeys(CHANGE_KINDS, 0))
        if r["change"] in row:
            row[r["change"]] += 1
    out = [{"ward_code": w, "ward_name": n, "category": c, **k,
            "net": k["opened"] + k["reopened"] - k["closed"]} for (w, n, c), k in counts.items()]
    return sorted(out, key=lambda r: (r["net"], r["ward_code"] is None, r["ward_code"] or ""))


def changes_by_ward(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the openings, closures and moves counted per ward and category from records.

    Return the openings, closures and moves counted per ward and category (from :func:`changes`; as
    :func:`tally_by_ward` counts them).
    """
    import pandas as pd

    records = frame[["ward_code", "ward_name", "category", "change"]].astype(object)
    records = records.where(records.notna(), None)
    return pd.DataFrame(tally_by_ward(records.to_dict("records")),
                        columns=["ward_code", "ward_name", "category", *CHANGE_KINDS, "net"])


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
    """Return the past moments gaps were computed for (``recompute --as-at``), newest first."""
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


