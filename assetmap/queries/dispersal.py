"""Dispersal review: supported asylum seekers against provision, per local authority and quarter.

The view a strategic migration partnership needs: for every local authority of a region (its
UK region or nation as the Home Office's Asy_D11 gives it, or authorities named by code), the
asylum seekers in receipt of support at each date loaded, per 10,000 residents, beside ESOL
places and refugee support services per 10,000 residents, so that the partnership sees where
dispersal grows faster than provision.

- **Supported**: the sum over the support types chosen (all by default) of the published
  counts; a suppressed cell adds nothing and is counted in ``suppressed_cells``, so a figure
  that rests on suppressed cells says so.
- **Residents**: an ONS mid-year population estimate where one is loaded for the authority
  (the latest year not after the date's year, else the earliest loaded), else the census
  population of the authority's output areas (through the loaded lookups); ``residents_basis``
  says which.
- **Authorities as they are today** (by default): figures published under a district's code
  before it merged (Cumbria, North Yorkshire and Somerset 2023; Northamptonshire 2021;
  Buckinghamshire 2020; Dorset 2019…) or under a code replaced after a boundary change sum into
  the authority that holds the area now (ONS's successor lookup,
  :mod:`assetmap.vocab.local_authorities`), so each has one unbroken line.
- **Series breaks**: the dates at which the publisher did not allocate some support to
  authorities (its labelled ``N/A - …`` rows, and the breaks its notes describe) carry a note.
- **Provision**: ESOL places (the ``capacity`` attribute, or 1 per provider) and refugee
  support services in the authority's output areas open at the end of each date, from the
  sites' history (``asset_versions``: a class that closed last year counts until it closed);
  a date before the earliest history loaded takes provision as first loaded, and
  ``provision_basis`` says so. NaN where no boundaries or lookups of the authority are loaded:
  not measured, rather than none.

A topic of :mod:`assetmap.queries` that is used as a module (``queries.dispersal.trend``), since
its names (``trend``, ``review``, ``growth``) say little on their own.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

import duckdb
import pandas as pd

from assetmap import vocab
from assetmap.db.sql import scalar
from assetmap.vocab import asylum_support, local_authorities

SOURCE = "Home Office, Immigration system statistics, Asy_D11 (OGL v3.0)"

_TREND_SQL = """
WITH oa_la AS (
    SELECT area_code, parent_code AS la_code FROM area_lookup WHERE parent_level = 'la'),
census AS (
    SELECT l.la_code, sum(p.count) AS residents, max(p.vintage) AS vintage FROM (
        SELECT * FROM population WHERE variable = $variable
        QUALIFY vintage = max(vintage) OVER (PARTITION BY area_code, variable)) p
    JOIN oa_la l ON l.area_code = p.area_code GROUP BY l.la_code),
covered AS (SELECT DISTINCT la_code FROM oa_la),
succ AS (SELECT unnest($olds) AS old, unnest($news) AS new),
named AS (SELECT unnest($codes) AS code, unnest($names) AS name),
sup AS (
    SELECT coalesce(succ.new, d.la_code) AS la_code, d.period,
           coalesce(any_value(named.name), any_value(d.la_name)) AS la_name, any_value(d.region) AS region,
           coalesce(sum(d.people), 0) AS supported, count(*) FILTER (WHERE d.suppressed) AS suppressed_cells,
           string_agg(DISTINCT d.la_code, ', ' ORDER BY d.la_code) FILTER (WHERE succ.new IS NOT NULL)
               AS carried_from
    FROM dispersal d LEFT JOIN succ ON succ.old = d.la_code
    LEFT JOIN named ON named.code = coalesce(succ.new, d.la_code)
    WHERE ($support_types IS NULL OR list_contains($support_types, d.support_type))
      AND ($since IS NULL OR d.period >= $since)
    GROUP BY ALL),
hist AS (SELECT min(valid_from) AS t0 FROM asset_versions),
asat AS (
    SELECT DISTINCT s.la_code, s.period, hist.t0,
           CASE WHEN hist.t0 IS NOT NULL AND s.period + INTERVAL 1 DAY <= hist.t0 THEN hist.t0 + INTERVAL 1 SECOND
                ELSE s.period + INTERVAL 1 DAY END AS as_at
    FROM sup s, hist),
prov AS (
    -- the sites open at the end of each date, from their history (as first loaded, before it)
    SELECT asat.la_code, asat.period,
           coalesce(sum(CASE WHEN v.category = 'esol_provider' THEN
               coalesce(TRY_CAST(json_extract_string(v.attrs, '$.capacity') AS DOUBLE), 1) END), 0)
               AS esol_places,
           count(v.asset_id) FILTER (WHERE v.category = 'refugee_support') AS refugee_support
    FROM asat JOIN oa_la l ON l.la_code = asat.la_code
    JOIN asset_versions v ON v.oa_code = l.area_code AND v.status = 'open'
         AND v.category IN ('esol_provider', 'refugee_support')
         AND v.valid_from < asat.as_at AND (v.valid_to IS NULL OR v.valid_to >= asat.as_at)
    GROUP BY ALL),
est AS (
    SELECT s.la_code, s.period,
           coalesce(
               (SELECT e.residents FROM population_estimates e WHERE e.area_code = s.la_code
                  AND e.year <= year(s.period) ORDER BY e.year DESC LIMIT 1),
               (SELECT e.residents FROM population_estimates e WHERE e.area_code = s.la_code
                  ORDER BY e.year LIMIT 1)) AS residents,
           coalesce(
               (SELECT e.year FROM population_estimates e WHERE e.area_code = s.la_code
                  AND e.year <= year(s.period) ORDER BY e.year DESC LIMIT 1),
               (SELECT e.year FROM population_estimates e WHERE e.area_code = s.la_code
                  ORDER BY e.year LIMIT 1)) AS year
    FROM sup s)
SELECT s.la_code, coalesce(s.la_name, ar.name) AS la_name, s.region, s.period, s.supported,
       s.suppressed_cells, s.carried_from,
       coalesce(est.residents, census.residents) AS residents,
       CASE WHEN est.residents IS NOT NULL THEN 'ONS mid-year estimate ' || est.year
            WHEN census.residents IS NOT NULL THEN 'census ' || census.vintage END AS residents_basis,
       CASE WHEN c.la_code IS NOT NULL THEN coalesce(prov.esol_places, 0) END AS esol_places,
       CASE WHEN c.la_code IS NOT NULL THEN coalesce(prov.refugee_support, 0) END AS refugee_support,
       CASE WHEN c.la_code IS NULL THEN NULL
            WHEN asat.t0 IS NULL THEN 'no sites loaded'
            WHEN s.period + INTERVAL 1 DAY <= asat.t0
                THEN 'as first loaded, ' || strftime(asat.t0, '%d %b %Y') || ' (no history before)'
            ELSE 'open at the date' END AS provision_basis
FROM sup s
LEFT JOIN est ON est.la_code = s.la_code AND est.period = s.period
LEFT JOIN census ON census.la_code = s.la_code
LEFT JOIN prov ON prov.la_code = s.la_code AND prov.period = s.period
LEFT JOIN asat ON asat.la_code = s.la_code AND asat.period = s.period
LEFT JOIN covered c ON c.la_code = s.la_code
LEFT JOIN areas ar ON ar.code = s.la_code AND ar.level = 'la'
WHERE ($region IS NULL OR lower(s.region) = lower($region))
  AND ($las IS NULL OR list_contains($las, s.la_code))
ORDER BY s.la_code, s.period
"""

COLUMNS = ["la_code", "la_name", "region", "period", "residents", "residents_basis", "supported",
           "suppressed_cells", "supported_per_10k", "esol_places", "esol_places_per_10k", "refugee_support",
           "refugee_support_per_10k", "places_per_supported", "provision_basis", "carried_from", "series_note"]


def regions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the UK regions and nations the loaded Asy_D11 figures name, in order."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT region FROM dispersal WHERE region IS NOT NULL ORDER BY region").fetchall()]


def home_region(con: duckdb.DuckDBPyConnection) -> str | None:
    """Return the region of the loaded study area: the one most of its authorities' figures name."""
    row = con.execute(
        """SELECT d.region FROM dispersal d
           WHERE d.region IS NOT NULL AND d.la_code IN (
               SELECT parent_code FROM area_lookup WHERE parent_level = 'la'
               UNION SELECT code FROM areas WHERE level = 'la')
           GROUP BY d.region ORDER BY count(DISTINCT d.la_code) DESC, d.region LIMIT 1""").fetchone()
    return row[0] if row else None


def carried_forward(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Return the retired codes the loaded figures use, with the authority holding each area today.

    Return the retired codes the loaded figures use, each with the authority that holds its area today, the date
    and the order behind it (ONS's successor lookup: :mod:`assetmap.vocab.local_authorities`).
    """
    codes = [r[0] for r in con.execute("SELECT DISTINCT la_code FROM dispersal ORDER BY 1").fetchall()]
    rows = []
    for old, new in local_authorities.successors_of(codes).items():
        steps, code = [], old  # Taunton Deane: into Somerset West and Taunton (2019), then Somerset (2023)
        while (reorg := local_authorities.reorganisation_of(code)) is not None and code != new:
            steps.append(reorg)
            code = reorg.new
        rows.append({"code": old, "name": local_authorities.name_of(old), "today": new,
                     "today_name": local_authorities.name_of(new), "date": steps[-1].date if steps else None,
                     "change": " then ".join(r.kind for r in steps) or None,
                     "reference": "; then ".join(r.reference for r in steps) or None})
    return pd.DataFrame(rows, columns=["code", "name", "today", "today_name", "date", "change", "reference"])


def breaks(con: duckdb.DuckDBPyConnection, within: Iterable[_dt.date] | None = None
           ) -> list[asylum_support.SeriesBreak]:
    """Where the publisher changed what it allocates to authorities.

    The releases' own labelled ``N/A - …`` rows (``dispersal_unallocated``), and the breaks the Home Office's
    notes describe that no loaded row shows; only those holding one of the dates ``within``, when given.
    """
    found = []
    for support, label, first, last, people in con.execute(
            """SELECT support_type, label, min(period), max(period), arg_max(people, period)
               FROM dispersal_unallocated GROUP BY ALL ORDER BY 3, 1""").fetchall():
        found.append(asylum_support.SeriesBreak(
            support, first, last, f"{label}: {support} support published as not allocated to any authority "
                                  f"({people if people is not None else 'a suppressed count of'} people at "
                                  f"{last:%d %b %Y}), so authority figures leave it out"))
    for known in asylum_support.KNOWN_BREAKS:
        if not any(b.support_type == known.support_type for b in found):
            found.append(known)
    if within is not None:
        dates = set(within)
        found = [b for b in found if any(b.holds(d) for d in dates)]
    return found


def _notes(table: pd.DataFrame, found: list[asylum_support.SeriesBreak], support_types: list[str]) -> list[str]:
    out = []
    for when in table["period"]:
        notes = [b.note for b in found if any(asylum_support.covers(b, t, when) for t in support_types)]
        out.append("; ".join(dict.fromkeys(notes)))
    return out


def trend(con: duckdb.DuckDBPyConnection, region: str | None = None, las: list[str] | None = None,
          since: str | _dt.date | None = None, support_types: list[str] | None = None,
          current: bool = True) -> pd.DataFrame:
    """One row per local authority and date loaded, with the figures per 10,000 residents.

    Parameters
    ----------
    con
        A store or snapshot connection.
    region
        A UK region or nation as Asy_D11 names it (any case); None for every region.
    las
        Only these local authorities (GSS codes).
    since
        Only dates on or after this one.
    support_types
        Only these support types (as stored: ``Section 95 / Dispersal Accommodation``...).
    current
        Figures on today's authorities (the default): a district that merged into a new
        authority, or a code replaced after a boundary change, sums into its successor, so that
        each authority has one unbroken line (``carried_from`` names the codes summed in). False:
        the codes as published.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, sorted by authority and date. ``supported_per_10k`` and the
        provision rates are NaN where residents are not loaded; provision is NaN where the
        authority's areas are not loaded. ``series_note`` says, at each date where the
        publisher did not allocate some of the chosen support to authorities, what and why.
    """
    stored = [r[0] for r in con.execute("SELECT DISTINCT la_code FROM dispersal").fetchall()]
    moved = local_authorities.successors_of(stored) if current else {}
    shown = sorted(set(stored) - set(moved) | set(moved.values()))
    wanted = [c.strip().upper() for c in las] if las else None
    if wanted and current:
        wanted = sorted({local_authorities.current(c) for c in wanted})
    params = {"variable": vocab.ETHNIC_GROUP, "support_types": support_types, "since": since,
              "region": region, "las": wanted,
              "olds": list(moved) or [""], "news": list(moved.values()) or [""],
              "codes": [c for c in shown if local_authorities.name_of(c)] or [""],
              "names": [local_authorities.name_of(c) for c in shown if local_authorities.name_of(c)] or [""]}
    df = con.execute(_TREND_SQL, params).df()
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    per = 10_000 / df["residents"].where(df["residents"] > 0)
    df["supported_per_10k"] = df["supported"] * per
    df["esol_places_per_10k"] = df["esol_places"] * per
    df["refugee_support_per_10k"] = df["refugee_support"] * per
    df["places_per_supported"] = df["esol_places"] / df["supported"].where(df["supported"] > 0)
    df["period"] = pd.to_datetime(df["period"]).dt.date
    types = support_types or [r[0] for r in con.execute("SELECT DISTINCT support_type FROM dispersal").fetchall()]
    df["series_note"] = _notes(df, breaks(con), types)
    return df[COLUMNS].reset_index(drop=True)


def review(con: duckdb.DuckDBPyConnection, period: str | None = None, support_types: list[str] | None = None,
           region: str | None = None, las: list[str] | None = None) -> pd.DataFrame:
    """Return the authorities at one date (default: the latest loaded), sorted by supported per 10,000.

    The same figures as :func:`trend` at that date, for the authorities with residents loaded.
    """
    when = scalar(con, "SELECT coalesce(CAST(? AS DATE), max(period)) FROM dispersal", [period])
    df = trend(con, region=region, las=las, since=when, support_types=support_types)
    df = df[(df["period"] == when) & df["residents"].notna()] if when is not None else df.iloc[0:0]
    return df.sort_values("supported_per_10k", ascending=False, ignore_index=True)


def growth(table: pd.DataFrame) -> pd.DataFrame:
    """Return where dispersal grew and ESOL provision did not keep up, per authority.

    Per authority: supported per 10,000 at the first and last date of ``table`` (a :func:`trend`), the change,
    and ESOL places per 10,000 now: where dispersal grew and provision did not keep up. Sorted by the change,
    largest first.
    """
    if table.empty:
        return pd.DataFrame(columns=["la_code", "la_name", "first", "last", "supported_per_10k_first",
                                     "supported_per_10k_last", "change_per_10k", "esol_places_per_10k"])
    t = table.dropna(subset=["supported_per_10k"]).sort_values(["la_code", "period"])
    g = t.groupby("la_code", sort=False)
    out = pd.DataFrame({
        "la_name": g["la_name"].last(), "first": g["period"].first(), "last": g["period"].last(),
        "supported_per_10k_first": g["supported_per_10k"].first(),
        "supported_per_10k_last": g["supported_per_10k"].last(),
        "esol_places_per_10k": g["esol_places_per_10k"].last()}).reset_index()
    out["change_per_10k"] = out["supported_per_10k_last"] - out["supported_per_10k_first"]
    cols = ["la_code", "la_name", "first", "last", "supported_per_10k_first", "supported_per_10k_last",
            "change_per_10k", "esol_places_per_10k"]
    return out[cols].sort_values("change_per_10k", ascending=False, ignore_index=True)
