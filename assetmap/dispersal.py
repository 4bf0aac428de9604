"""Dispersal review: supported asylum seekers against provision, per local authority.

The view a strategic migration partnership needs: for each local authority, the asylum
seekers in receipt of support (Home Office Asy_D11, the latest date loaded, all support types
unless some are chosen) per 10,000 residents, beside ESOL places and refugee support
services per 10,000 residents. Residents are the census population of the authority's OAs;
provision counts the assets in them (places: the ``capacity`` attribute, or 1 per asset).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from assetmap import census as vocab


def review(con: duckdb.DuckDBPyConnection, period: str | None = None,
           support_types: list[str] | None = None) -> pd.DataFrame:
    """One row per local authority that has residents loaded.

    Columns: ``la_code, la_name, period, residents, supported, supported_per_10k,
    esol_places, esol_places_per_10k, refugee_support, refugee_support_per_10k,
    places_per_supported`` (ESOL places per supported person), sorted by supported per 10,000.
    """
    period_row = con.execute(
        "SELECT coalesce(CAST(? AS DATE), max(period)) FROM dispersal", [period]).fetchone()
    when = period_row[0] if period_row else None
    df = con.execute(
        """
        WITH oa_la AS (
            SELECT area_code, parent_code AS la_code FROM area_lookup WHERE parent_level = 'la'),
        pop AS (
            SELECT l.la_code, sum(p.count) AS residents FROM (
                SELECT * FROM population WHERE variable = ?
                QUALIFY vintage = max(vintage) OVER (PARTITION BY area_code, variable)) p
            JOIN oa_la l ON l.area_code = p.area_code GROUP BY l.la_code),
        sup AS (
            SELECT la_code, any_value(la_name) AS la_name, sum(people) AS supported
            FROM dispersal WHERE period = ?
              AND (? IS NULL OR list_contains(?, support_type))
            GROUP BY la_code),
        prov AS (
            SELECT l.la_code,
                   sum(CASE WHEN a.category = 'esol_provider' THEN
                       coalesce(TRY_CAST(json_extract_string(a.attrs, '$.capacity') AS DOUBLE), 1) END)
                       AS esol_places,
                   count(*) FILTER (WHERE a.category = 'refugee_support') AS refugee_support
            FROM assets a JOIN oa_la l ON l.area_code = a.oa_code GROUP BY l.la_code)
        SELECT pop.la_code, coalesce(sup.la_name, ar.name) AS la_name, ?::DATE AS period,
               pop.residents, coalesce(sup.supported, 0) AS supported,
               coalesce(prov.esol_places, 0) AS esol_places,
               coalesce(prov.refugee_support, 0) AS refugee_support
        FROM pop LEFT JOIN sup USING (la_code) LEFT JOIN prov USING (la_code)
        LEFT JOIN areas ar ON ar.code = pop.la_code AND ar.level = 'la'
        ORDER BY pop.la_code
        """,
        [vocab.ETHNIC_GROUP, when, support_types, support_types or [], when],
    ).df()
    if df.empty:
        return df
    per = 10_000 / df["residents"].where(df["residents"] > 0)
    df["supported_per_10k"] = df["supported"] * per
    df["esol_places_per_10k"] = df["esol_places"] * per
    df["refugee_support_per_10k"] = df["refugee_support"] * per
    df["places_per_supported"] = df["esol_places"] / df["supported"].where(df["supported"] > 0)
    cols = ["la_code", "la_name", "period", "residents", "supported", "supported_per_10k",
            "esol_places", "esol_places_per_10k", "refugee_support", "refugee_support_per_10k",
            "places_per_supported"]
    return df[cols].sort_values("supported_per_10k", ascending=False, ignore_index=True)
