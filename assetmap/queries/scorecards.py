"""Race equality scorecards: each local authority's groups, their need and their provision."""

from __future__ import annotations

import duckdb
import pandas as pd

from assetmap.settings import settings


def scorecard_las(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Return the local authorities with scorecard figures: code, name, figures."""
    return con.execute(
        """SELECT s.la_code AS code, coalesce(a.name, s.la_code) AS name, count(*) AS figures
           FROM scorecard_indicators s LEFT JOIN areas a ON a.level = 'la' AND a.code = s.la_code
           GROUP BY ALL ORDER BY name""").df()


def la_ethnic_population(con: duckdb.DuckDBPyConnection, la_code: str) -> dict[str, float]:
    """Return the residents of each ethnic category in a local authority.

    Residents of each ethnic category in a local authority (latest census, summed over its OAs; found through
    the OA lookup, or through its wards).
    """
    rows = con.execute(
        """WITH oas AS (
               SELECT area_code FROM area_lookup WHERE parent_level = 'la' AND parent_code = ?
                 AND area_code IN (SELECT code FROM areas WHERE level = 'oa')
               UNION
               SELECT o.area_code FROM area_lookup o JOIN area_lookup w
                 ON o.parent_level = 'ward' AND w.area_code = o.parent_code AND w.parent_level = 'la'
               WHERE w.parent_code = ?)
           SELECT category, sum(count) FROM census_latest
           WHERE variable = 'ethnic_group' AND area_code IN (SELECT area_code FROM oas) GROUP BY ALL""",
        [la_code, la_code]).fetchall()
    return {c: float(n) for c, n in rows}


def scorecard(con: duckdb.DuckDBPyConnection, la_code: str, min_population: float | None = None) -> pd.DataFrame:
    """Return a local authority's scorecard.

    Each figure as a disparity ratio against its reference group (value / reference value, with the interval's
    bounds when given), the group's and reference group's residents from the census beside it, and why a figure
    may not be reliable.
    """
    from assetmap.vocab.scorecards import DOMAINS, group_categories

    floor = settings.scorecard_min_population if min_population is None else min_population
    df = con.execute(
        """SELECT domain, indicator, grp AS "group", value, reference_group, reference_value, year, source,
                  lower, upper FROM scorecard_indicators WHERE la_code = ?
           ORDER BY domain, indicator, year DESC, grp""", [la_code]).df()
    if df.empty:
        return df
    pop = la_ethnic_population(con, la_code)

    def residents(group: str) -> float | None:
        cats = group_categories(group)
        return sum(pop.get(c, 0.0) for c in cats) if cats and pop else None

    df["ratio"] = df["value"] / df["reference_value"]
    df["ratio_low"] = df["lower"] / df["reference_value"]
    df["ratio_high"] = df["upper"] / df["reference_value"]
    df["group_population"] = [residents(g) for g in df["group"]]
    df["reference_population"] = [residents(g) for g in df["reference_group"]]
    flags = []
    for r in df.itertuples():
        why = []
        if r.group_population is None:
            why.append("group not found in the census")
        elif r.group_population < floor:
            why.append(f"small group ({r.group_population:,.0f} residents)")
        if r.ratio_low == r.ratio_low and r.ratio_high == r.ratio_high and r.ratio_low <= 1 <= r.ratio_high:
            why.append("interval spans parity")
        flags.append("; ".join(why))
    df["reliability"] = flags
    df["domain_label"] = df["domain"].map(DOMAINS)
    order = {d: i for i, d in enumerate(DOMAINS)}
    return df.sort_values(["domain", "indicator", "year"], key=lambda s: s.map(order) if s.name == "domain" else s,
                          ascending=[True, True, False]).reset_index(drop=True)


