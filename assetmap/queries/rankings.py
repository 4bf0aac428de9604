"""Rankings and tables of units: gaps, indices, and where partners' figures disagree."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from assetmap import vocab
from assetmap.db.sql import scalar
from assetmap.queries.measures import LEVEL
from assetmap.queries.overview import wards
from assetmap.queries.profile import why


def gap_ranking(con: duckdb.DuckDBPyConnection, category: str) -> pd.DataFrame:
    """Wards by provision gap for ``category``: rank, ward, LA, gap, need, supply, flags, why."""
    df = con.execute(
        """SELECT rank, unit_code AS code, gap, need, supply, flags, components FROM unit_gaps
           WHERE unit_level = ? AND category = ? ORDER BY rank, code""", [LEVEL, category]).df()
    df = df.merge(wards(con), on="code", how="left")
    df["flags"] = df["flags"].map(lambda s: ", ".join(json.loads(s)) if isinstance(s, str) else "")
    df["why"] = df["components"].map(lambda s: why(json.loads(s)) if isinstance(s, str) else "")
    return df[["rank", "code", "name", "la_name", "gap", "need", "supply", "flags", "why"]]


def unit_gaps(con: duckdb.DuckDBPyConnection, level: str, category: str, top: int,
              flagged_only: bool = False) -> list[dict[str, Any]]:
    """Return the ``top`` units of ``level`` by gap for ``category``, components and flags parsed."""
    rows = con.execute(
        """SELECT g.unit_code, a.name, g.rank, g.gap, g.need, g.supply, g.flags, g.components, g.strengths
           FROM unit_gaps g LEFT JOIN areas a ON a.code = g.unit_code AND a.level = g.unit_level
           WHERE g.unit_level = ? AND g.category = ?
             AND (NOT ? OR list_contains(from_json(g.flags, '["VARCHAR"]'), 'high_need_low_provision'))
           ORDER BY g.rank, g.unit_code LIMIT ?""", [level, category, flagged_only, top]).fetchall()
    keys = ["code", "name", "rank", "gap", "need", "supply", "flags", "components", "strengths"]
    recs = [dict(zip(keys, r, strict=True)) for r in rows]
    for r in recs:
        for k in ("flags", "components", "strengths"):
            r[k] = json.loads(r[k]) if r[k] else None
    return recs


def unit_indices(con: duckdb.DuckDBPyConnection, level: str, unit: str | None = None,
                 focal_group: str | None = None) -> pd.DataFrame:
    """Segregation indices of the units of ``level`` (optionally one unit, one focal group)."""
    return con.execute(
        """SELECT unit_code, focal_group, index_name, value, ci_low, ci_high, reliable, n_oas
           FROM unit_indices WHERE unit_level = ? AND (? IS NULL OR unit_code = ?)
             AND (? IS NULL OR focal_group = ?) ORDER BY unit_code, focal_group, index_name""",
        [level, unit, unit, focal_group, focal_group]).df()


def partner_disagreements(con: duckdb.DuckDBPyConnection, tolerance: float) -> tuple[pd.DataFrame, int]:
    """Return the partner-published index values that differ from ours by more than ``tolerance``.

    Partner-published index values that differ from ours by more than ``tolerance`` (or have no computed value),
    largest difference first; and how many partner values there are.
    """
    rows = con.execute(
        """SELECT p.source, p.unit_code, p.focal_group, p.index_name, p.value AS partner,
                  w.value AS computed, p.value - w.value AS difference
           FROM partner_indices p LEFT JOIN unit_indices w
             ON w.unit_code = p.unit_code AND w.focal_group = p.focal_group AND w.index_name = p.index_name
           WHERE w.value IS NULL OR abs(p.value - w.value) > ?
           ORDER BY abs(coalesce(p.value - w.value, 1e9)) DESC, p.unit_code""", [tolerance]).df()
    return rows, int(scalar(con, "SELECT count(*) FROM partner_indices") or 0)


def compare_gaps(now: duckdb.DuckDBPyConnection, before: duckdb.DuckDBPyConnection,
                 tolerance: float = 1e-9) -> pd.DataFrame:
    """Wards whose gap changed between two snapshots, per category, largest change first."""
    q = "SELECT unit_code AS code, category, gap, rank FROM unit_gaps WHERE unit_level = ?"
    a = now.execute(q, [LEVEL]).df()
    b = before.execute(q, [LEVEL]).df()
    m = a.merge(b, on=["code", "category"], how="outer", suffixes=("_now", "_before"))
    m["change"] = m["gap_now"] - m["gap_before"]
    changed = m[(m["change"].abs() > tolerance) | m["gap_now"].isna() | m["gap_before"].isna()].copy()
    changed = changed.merge(wards(now), on="code", how="left")
    changed["category"] = changed["category"].map(lambda c: vocab.CATEGORY_LABELS.get(c, c))
    changed = changed.reindex(changed["change"].abs().sort_values(ascending=False, na_position="first").index)
    return changed[["code", "name", "category", "gap_before", "gap_now", "change", "rank_before",
                    "rank_now"]].reset_index(drop=True)


