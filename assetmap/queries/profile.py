"""One ward's profile: its residents, indices, gaps, access by foot and by bus, and its LA beside it."""

from __future__ import annotations

import json
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd

from assetmap import vocab
from assetmap.db.sql import scalar
from assetmap.queries.measures import LEVEL
from assetmap.queries.overview import la_wards, ward_la

#: Metres in a kilometre (distances from one on are written in km).
_KM = 1000


def population_mix(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Residents of each ethnic group in the ward and the shares in the ward and its LA."""
    la_code, _ = ward_la(con, code)
    df = con.execute(
        """WITH w AS (SELECT category, sum(count) AS n FROM census_in($var, 'ward', $ward) GROUP BY 1),
                l AS (SELECT category, sum(count) AS n FROM census_in($var, 'la', $la) GROUP BY 1)
           SELECT coalesce(w.category, l.category) AS group_code,
                  coalesce(w.n, 0) AS residents, coalesce(l.n, 0) AS la_residents
           FROM w FULL OUTER JOIN l ON l.category = w.category ORDER BY 1""",
        {"var": vocab.ETHNIC_GROUP, "ward": code, "la": la_code}).df()
    df = df[(df["residents"] > 0) | (df["la_residents"] > 0)].copy()
    df["group"] = df["group_code"].map(vocab.group_label)
    df["share"] = df["residents"] / max(df["residents"].sum(), 1)
    df["la_share"] = df["la_residents"] / max(df["la_residents"].sum(), 1)
    return df.sort_values("residents", ascending=False).reset_index(drop=True)


def ward_indices(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Return the ward's segregation indices, the multigroup ones first, with labels."""
    df = con.execute(
        """SELECT focal_group, index_name, value, ci_low, ci_high, reliable, n_oas FROM unit_indices
           WHERE unit_level = ? AND unit_code = ? ORDER BY focal_group <> 'all', focal_group, index_name""",
        [LEVEL, code]).df()
    df["index"] = df["index_name"].map(vocab.INDEX_LABELS)
    df["group"] = df["focal_group"].map(vocab.group_label)
    return df


def ward_gaps(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Each category's gap, need, supply, rank (of how many), components, flags, strengths."""
    df = con.execute(
        """SELECT g.category, g.gap, g.need, g.supply, g.rank, n.of_units, g.components, g.flags, g.strengths
           FROM unit_gaps g
           JOIN (SELECT category, count(*) AS of_units FROM unit_gaps WHERE unit_level = ? GROUP BY 1) n
             USING (category)
           WHERE g.unit_level = ? AND g.unit_code = ? ORDER BY g.category""", [LEVEL, LEVEL, code]).df()
    for col in ("components", "flags", "strengths"):
        df[col] = df[col].map(lambda s: json.loads(s) if isinstance(s, str) else s)
    df["label"] = df["category"].map(vocab.CATEGORY_LABELS)
    return df.reset_index(drop=True)


def why(components: list[dict[str, Any]], n: int = 3) -> str:
    """Return the components that move a gap most, as words: 'ESOL need +0.39, capacity -0.10'."""
    top = sorted(components or [], key=lambda c: -abs(c.get("contribution") or 0))[:n]
    return ", ".join(f"{c['component'].replace('_', ' ')} {c['contribution']:+.2f}" for c in top)


def ward_access(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Return the ward's accessibility per category.

    How it was measured (``access_mode``), the distance to the nearest (on foot where a network is loaded), the
    walk in minutes and the straight line.
    """
    return con.execute(
        """SELECT category, demand_basis, demand, access_mode, nearest_m, nearest_min, crow_m, share_within_800,
                  share_within_1600, e2sfca, assets_in_unit, capacity_in_unit
           FROM unit_access WHERE unit_level = ? AND unit_code = ? ORDER BY category""", [LEVEL, code]).df()


def _distance(m: float) -> str:
    return f"{m / _KM:.1f} km" if m >= _KM else f"{round(m / 10) * 10:.0f} m"


def access_sentences(access: pd.DataFrame) -> list[str]:
    """One plain line per category of :func:`ward_access`, saying both distances where the walk is known.

    "Nearest ESOL class: 350 m as the crow flies, 1.2 km on foot (15 minutes' walk)".
    """
    from assetmap.vocab.categories import CATEGORY_ONE, SENSITIVE_CATEGORIES

    out = []
    for r in access.itertuples(index=False):
        what = CATEGORY_ONE.get(r.category, r.category)
        if r.access_mode == "outside":
            out.append(f"Nearest {what}: not measured (the ward lies beyond the walking network's extent)")
        elif pd.isna(r.nearest_m) and r.category in SENSITIVE_CATEGORIES:
            out.append(f"Nearest {what}: not shown (sensitive services are counted, never located, in public)")
        elif pd.isna(r.nearest_m):
            out.append(f"Nearest {what}: none in the data")
        elif r.access_mode == "network" and not pd.isna(r.crow_m) and not pd.isna(r.nearest_min):
            out.append(f"Nearest {what}: {_distance(r.crow_m)} as the crow flies, {_distance(r.nearest_m)} on foot "
                       f"({r.nearest_min:.0f} minutes' walk)")
        else:
            out.append(f"Nearest {what}: {_distance(r.nearest_m)} as the crow flies (no walking network loaded)")
    return out


def access_mode(con: duckdb.DuckDBPyConnection) -> str | None:
    """How the snapshot's access was measured.

    ``network`` (on foot along the streets, where any OA was), ``crow_flies`` (straight lines), or None before
    any recompute.
    """
    modes = {r[0] for r in con.execute("SELECT DISTINCT access_mode FROM unit_access").fetchall()}
    if "network" in modes:
        return "network"
    return "crow_flies" if modes else None


def walking_area(con: duckdb.DuckDBPyConnection, asset_id: str, partner: bool = False,
                 minutes: tuple[int, ...] = (10, 20)) -> dict[str, Any] | None:
    """Return the streets within ``minutes`` of walking from an asset, as GeoJSON.

    Return the streets within ``minutes`` of walking from an asset, as GeoJSON (None without a walking network,
    or for an asset this reader may not locate: a sensitive one in public).
    """
    from assetmap.network.reach import walking_area as area
    from assetmap.network.split import engine_near

    row = con.execute(
        """SELECT name, category, ST_X(geom), ST_Y(geom), ST_X(p), ST_Y(p) FROM (
               SELECT *, ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) AS p FROM assets
               WHERE asset_id = ? AND geom IS NOT NULL AND (? OR NOT sensitive))""", [asset_id, partner]).fetchone()
    engine = engine_near(con, float(row[2]), float(row[3])) if row is not None else None
    if row is None or engine is None:
        return None
    found = area(engine, float(row[2]), float(row[3]), minutes)
    return {"name": row[0], "category": row[1], "lon": row[4], "lat": row[5], "start_m": found.start_m,
            "nodes": found.nodes, "geojson": found.geojson()}


#: What each page says about how distances were measured.
def ward_ptal(con: duckdb.DuckDBPyConnection, code: str) -> dict[str, Any] | None:
    """Return the ward's bus and rail access (PTAL).

    ``ptal_ai``, ``ptal_band``, ``oas`` (with a figure), ``outside`` (OAs beyond the walking network),
    ``walk_mode``, the timetable's ``service_date`` and ``source``, and ``routes``: each route within reach of
    any of its OAs, with the share of its OAs that reach it, the median walk to its best stop, its peak
    frequency and its median weighted EDF. None when no timetable is loaded.
    """
    info = con.execute("SELECT service_date, source, date_chosen FROM transit_info LIMIT 1").fetchone()
    if info is None:
        return None
    unit = con.execute("SELECT ptal_ai, ptal_band, oas FROM unit_ptal WHERE unit_level = ? AND unit_code = ?",
                       [LEVEL, code]).fetchone()
    modes = dict(con.execute(
        """SELECT walk_mode, count(*) FROM oa_ptal WHERE oa_code IN
               (SELECT area_code FROM area_lookup WHERE parent_level = ? AND parent_code = ?) GROUP BY 1""",
        [LEVEL, code]).fetchall())
    routes = con.execute(
        """WITH w AS (SELECT area_code FROM area_lookup WHERE parent_level = ? AND parent_code = ?),
                n AS (SELECT count(*) AS n FROM oa_ptal WHERE oa_code IN (SELECT area_code FROM w)
                                                        AND walk_mode <> 'outside')
           SELECT r.route_name AS route, r.mode, count(*) / any_value(n.n) AS share_of_oas,
                  round(median(r.walk_m)) AS median_walk_m, max(r.frequency) AS per_hour,
                  median(r.edf * r.weight) AS median_part
           FROM oa_ptal_routes r, n WHERE r.oa_code IN (SELECT area_code FROM w)
           GROUP BY r.route_id, r.route_name, r.mode ORDER BY median_part DESC, route""", [LEVEL, code]).df()
    walk = "network" if modes.get("network") else "crow_flies" if modes.get("crow_flies") else "outside"
    return {"ptal_ai": None if unit is None else unit[0], "ptal_band": None if unit is None else unit[1],
            "oas": 0 if unit is None else int(unit[2]), "outside": int(modes.get("outside", 0)), "walk_mode": walk,
            "service_date": info[0], "source": info[1], "date_chosen": info[2], "routes": routes}


def ptal_sentence(p: dict[str, Any] | None) -> str | None:
    """Return the ward's bus and rail access in one plain line (None without a timetable).

    For instance: "Bus and rail access: PTAL 2 (index 7.4, the residents' mean), 12 routes within a walk
    of the morning peak of Wednesday 18 July 2018".
    """
    if p is None:
        return None
    when = f"{p['service_date']:%A %d %B %Y}" if hasattr(p["service_date"], "strftime") else str(p["service_date"])
    if p["ptal_ai"] is None or pd.isna(p["ptal_ai"]):
        return ("Bus and rail access: not measured (the ward lies beyond the walking network's extent)"
                if p["outside"] else "Bus and rail access: no figure for this ward")
    n = len(p["routes"])
    how = "on foot along the streets" if p["walk_mode"] == "network" else "as the crow flies"
    return (f"Bus and rail access: PTAL {p['ptal_band']} (access index {p['ptal_ai']:.1f}, the residents' mean); "
            f"{n} route{'s' if n != 1 else ''} within a walk ({how}) of its output areas, "
            f"morning peak 08:15-09:15 of {when}")


ACCESS_MODE_NOTE = {
    "network": "Distances are walks along the street network (OpenStreetMap) at {speed} km/h.",
    "crow_flies": "Distances are straight lines: no walking network is loaded, so rivers, railways and main "
                  "roads are not seen (load an OpenStreetMap extract with `assetmap ingest PLACE.osm.pbf`).",
}


#: The shares the profile sets beside the LA's: (label, variable, categories, everyone but them).
WARD_VS_LA_SHARES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("Share who cannot speak English well or at all", vocab.ENGLISH_PROFICIENCY, vocab.ESOL_NEED_CATEGORIES, False),
    ("Share born outside the UK", vocab.COUNTRY_OF_BIRTH, ("uk",), True),
    ("Share White British", vocab.ETHNIC_GROUP, ("white_british",), False),
)


def share_in(con: duckdb.DuckDBPyConnection, variable: str, categories: tuple[str, ...] | list[str],
             level: str, unit: str, complement: bool = False) -> float | None:
    """Share of the unit's residents in ``categories`` (or, with ``complement``, in none of them).

    The denominator is the residents whose category the table lists (``census_in``).
    """
    share = scalar(con, """SELECT sum(count) FILTER (WHERE list_contains(?, category) <> ?) / nullif(sum(count), 0)
                        FROM census_in(?, ?, ?)""", [list(categories), complement, variable, level, unit])
    return cast("float | None", share)


def ward_vs_la(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Return the ward beside its local authority: residents' shares, and each category's gap.

    The LA's gap is the mean over its wards, weighted by residents in need.
    """
    la_code, _ = ward_la(con, code)
    rows: list[dict[str, Any]] = []
    for label, variable, cats, complement in WARD_VS_LA_SHARES:
        rows.append({"measure": label, "ward": share_in(con, variable, cats, "ward", code, complement),
                     "local_authority": share_in(con, variable, cats, "la", la_code, complement)
                     if la_code else None})
    members = la_wards(con, la_code) if la_code else [code]
    gaps = con.execute(
        """SELECT g.category, g.unit_code, g.gap, a.demand FROM unit_gaps g
           JOIN unit_access a USING (unit_level, unit_code, category)
           WHERE g.unit_level = ? AND list_contains(?, g.unit_code)""", [LEVEL, members]).df()
    for cat, grp in gaps.groupby("category"):
        mine = grp.loc[grp["unit_code"] == code, "gap"]
        weights = grp["demand"].clip(lower=0)
        la_mean = float(np.average(grp["gap"], weights=weights)) if weights.sum() > 0 else float(grp["gap"].mean())
        rows.append({"measure": f"Provision gap: {vocab.CATEGORY_LABELS.get(str(cat), str(cat))}",
                     "ward": float(mine.iloc[0]) if len(mine) else None, "local_authority": la_mean})
    return pd.DataFrame(rows, columns=["measure", "ward", "local_authority"])


