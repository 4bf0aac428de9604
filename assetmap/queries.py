"""Every read the CLI and the dashboard make, scoped to what is asked.

Each function takes an open DuckDB connection (the working store or a published snapshot) and
returns plain pandas or dicts; nothing here writes. One ward's profile reads that ward's output
areas and its local authority's, never the national tables. The rules every read shares live in
the schema (:mod:`assetmap.store`, migration 7), not here:

- ``census_latest`` and ``census_in(variable, level, unit)``: the latest census vintage; shares
  are of the residents whose category a table lists (the ``unlisted`` remainder left out of both
  sides), the same rule as the gap's need components;
- ``asset_supply``: an asset's capacity, or 1;
- ``public_assets``: what the public may see of a site.

Values are always parameters. The few identifiers chosen by a caller (a measure's column) come
from the fixed maps below, never from a request. Sensitive assets (refugee support venues,
women-only spaces) leave this module with a location only when ``partner`` is true; otherwise
they are counted per ward.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd

from assetmap import vocab
from assetmap.settings import DISPLAY_CRS, settings
from assetmap.store import scalar
from assetmap.vocab.categories import safe_link

LEVEL = vocab.DEFAULT_UNIT

#: What a map may show of a unit.
KINDS: dict[str, str] = {
    "gap": "Provision gap",
    "need": "Need",
    "supply": "Supply",
    "access": "Accessibility",
    "index": "Segregation index",
    "share": "Share of residents",
    "language": "Language gap",
    "ptal": "Bus and rail access (PTAL)",
}
#: Accessibility fields of ``unit_access`` a map may show (the column names, fixed).
ACCESS_FIELDS: dict[str, str] = {
    "e2sfca": "E2SFCA (supply per person in need within reach)",
    "nearest_m": "Distance to the nearest (m, need-weighted)",
    "nearest_min": "Walking minutes to the nearest (need-weighted)",
    "detour": "Detour to the nearest (on foot ÷ straight line)",
    "share_within_800": "Share in need within 800 m (10 minutes' walk)",
    "share_within_1600": "Share in need within 1,600 m (20 minutes' walk)",
}
#: The SQL of each accessibility field (fixed expressions over ``unit_access``).
_ACCESS_SQL = {**{f: f for f in ACCESS_FIELDS}, "detour": "nearest_m / nullif(crow_m, 0)"}
_GAP_COLUMNS = {"gap": "gap", "need": "need", "supply": "supply"}
#: Tables whose emptiness a page asks about.
_COUNTABLE = frozenset({"unit_gaps", "unit_indices", "unit_access", "dispersal", "assets", "display_areas"})


@dataclass(frozen=True)
class Measure:
    """One ward measure the map can show, with what it needs to be found again from a URL."""

    kind: str = "gap"
    category: str = "esol_provider"
    field: str = "e2sfca"
    index: str = "dissimilarity"
    group: str = "all"
    language: str = "urdu"

    def __post_init__(self) -> None:
        from assetmap.vocab.languages import LANGUAGES

        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown measure {self.kind!r}")
        if self.category not in vocab.CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if self.field not in ACCESS_FIELDS:
            raise ValueError(f"unknown accessibility field {self.field!r}")
        if self.index not in vocab.INDEX_LABELS:
            raise ValueError(f"unknown index {self.index!r}")

    @property
    def label(self) -> str:
        cat = vocab.CATEGORY_LABELS.get(self.category, self.category)
        if self.kind in _GAP_COLUMNS:
            return f"{KINDS[self.kind]}: {cat}"
        if self.kind == "access":
            return f"{ACCESS_FIELDS[self.field]}: {cat}"
        if self.kind == "index":
            group = "" if vocab.is_multigroup(self.index) else f" ({vocab.group_label(self.group)})"
            return f"{vocab.INDEX_LABELS[self.index]}{group}"
        if self.kind == "language":
            from assetmap.vocab.languages import language_label

            return f"Language gap: {language_label(self.language)} speakers with no provider in it within reach"
        if self.kind == "ptal":
            return "Bus and rail access: PTAL access index (residents' mean; TfL method, morning peak)"
        return f"Share of residents: {vocab.group_label(self.group)}"

    def params(self) -> dict[str, str]:
        """The query parameters that find this measure again (only those that matter)."""
        out = {"measure": self.kind}
        if self.kind in (*_GAP_COLUMNS, "access"):
            out["category"] = self.category
        if self.kind == "access":
            out["field"] = self.field
        if self.kind == "index":
            out["index"] = self.index
        if (self.kind == "index" and not vocab.is_multigroup(self.index)) or self.kind == "share":
            out["group"] = self.group
        if self.kind == "language":
            out["language"] = self.language
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Measure:
        """A measure from query parameters; anything unknown falls back to the default."""
        base = asdict(cls())
        mapping = {"measure": "kind", "category": "category", "field": "field", "index": "index",
                   "group": "group", "language": "language"}
        for key, attr in mapping.items():
            if params.get(key):
                base[attr] = str(params[key])
        try:
            m = cls(**base)
        except ValueError:
            return cls()
        if m.kind == "index" and vocab.is_multigroup(m.index) and m.group != vocab.ALL_GROUPS:
            m = cls(**{**asdict(m), "group": vocab.ALL_GROUPS})
        if m.kind == "index" and not vocab.is_multigroup(m.index) and m.group == vocab.ALL_GROUPS:
            m = cls(**{**asdict(m), "group": "white_british"})
        return m


# -- the snapshot as a whole --------------------------------------------------------------------

def has_table_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` (one of a fixed few) has any row."""
    if table not in _COUNTABLE:
        raise ValueError(table)
    return scalar(con, f"SELECT EXISTS (SELECT 1 FROM {table})") is True  # noqa: S608 (fixed names)


def summary(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many wards, OAs, assets (and sensitive ones) and ingests a store holds."""
    row = con.execute(
        """SELECT (SELECT count(*) FROM areas WHERE level = 'ward'),
                  (SELECT count(*) FROM areas WHERE level = 'oa'),
                  (SELECT count(*) FROM assets),
                  -- a public snapshot holds no sensitive site, only their counts
                  greatest((SELECT count(*) FROM assets WHERE sensitive),
                           (SELECT coalesce(sum(in_ward), 0) FROM sensitive_site_counts)),
                  (SELECT count(*) FROM ingests)""").fetchone()
    return dict(zip(("wards", "oas", "assets", "sensitive_assets", "ingests"), row or (0,) * 5, strict=True))


#: Appended to a CTE ``w(code, name)`` of wards: each with its LA (constant SQL, no input).
_WARD_LA = """
    la AS (
        SELECT l1.parent_code AS ward, l2.parent_code AS la_code
        FROM area_lookup l1 JOIN area_lookup l2 ON l2.area_code = l1.area_code AND l2.parent_level = 'la'
        WHERE l1.parent_level = 'ward' AND l1.parent_code IN (SELECT code FROM w)
        GROUP BY l1.parent_code, l2.parent_code
        QUALIFY row_number() OVER (PARTITION BY l1.parent_code ORDER BY count(*) DESC, la_code) = 1)
    SELECT w.code, coalesce(w.name, w.code) AS name, la.la_code, coalesce(a.name, la.la_code) AS la_name
    FROM w LEFT JOIN la ON la.ward = w.code LEFT JOIN areas a ON a.code = la.la_code AND a.level = 'la'
    ORDER BY w.code"""


def wards(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``code, name, la_code, la_name`` of every ward (its LA: the LA of most of its OAs)."""
    return con.execute("WITH w AS (SELECT code, name FROM areas WHERE level = 'ward'), " + _WARD_LA).df()  # noqa: S608


def ward(con: duckdb.DuckDBPyConnection, code: str) -> dict[str, Any] | None:
    """``code, name, la_code, la_name`` of one ward, or None when the store has no such ward."""
    df = con.execute("WITH w AS (SELECT code, name FROM areas WHERE level = 'ward' AND code = ?), "  # noqa: S608
                     + _WARD_LA, [code]).df()
    if df.empty:
        return None
    rec = df.iloc[0].to_dict()
    return {k: (None if pd.isna(v) else v) for k, v in rec.items()}


def ward_la(con: duckdb.DuckDBPyConnection, code: str) -> tuple[str | None, str | None]:
    """The ward's local authority (code, name)."""
    w = ward(con, code)
    return (None, None) if w is None else (w["la_code"], w["la_name"])


def la_wards(con: duckdb.DuckDBPyConnection, la_code: str) -> list[str]:
    """The wards whose local authority (that of most of their OAs) is ``la_code``."""
    df = con.execute(
        """WITH w AS (SELECT DISTINCT l1.parent_code AS code, NULL AS name
                      FROM area_lookup l1 JOIN area_lookup l2
                        ON l2.area_code = l1.area_code AND l2.parent_level = 'la' AND l2.parent_code = ?
                      WHERE l1.parent_level = 'ward'), """ + _WARD_LA, [la_code]).df()  # noqa: S608
    return cast("list[str]", df.loc[df["la_code"] == la_code, "code"].tolist())


def ethnic_groups(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The focal groups the loaded ethnic-group table supports."""
    cats = [r[0] for r in con.execute(
        "SELECT DISTINCT category FROM population WHERE variable = ? ORDER BY 1", [vocab.ETHNIC_GROUP]).fetchall()]
    return vocab.focal_groups(cats)


# -- measures -----------------------------------------------------------------------------------

def measure_values(con: duckdb.DuckDBPyConnection, m: Measure) -> pd.DataFrame:
    """``code, value, reliable`` of every ward for measure ``m`` (missing wards have no row)."""
    if m.kind in _GAP_COLUMNS:
        col = _GAP_COLUMNS[m.kind]
        df = con.execute(f"SELECT unit_code AS code, {col} AS value FROM unit_gaps "  # noqa: S608 (fixed map)
                         "WHERE unit_level = ? AND category = ?", [LEVEL, m.category]).df()
    elif m.kind == "access":
        col = _ACCESS_SQL.get(m.field, "e2sfca")
        df = con.execute(f"SELECT unit_code AS code, {col} AS value FROM unit_access "  # noqa: S608 (fixed map)
                         "WHERE unit_level = ? AND category = ?", [LEVEL, m.category]).df()
    elif m.kind == "ptal":
        df = con.execute("SELECT unit_code AS code, ptal_ai AS value FROM unit_ptal WHERE unit_level = ?",
                         [LEVEL]).df()
    elif m.kind == "language":
        df = con.execute("SELECT unit_code AS code, language_gap AS value FROM unit_languages "
                         "WHERE unit_level = ? AND language = ?", [LEVEL, m.language]).df()
    elif m.kind == "index":
        df = con.execute("SELECT unit_code AS code, value, reliable FROM unit_indices "
                         "WHERE unit_level = ? AND index_name = ? AND focal_group = ?",
                         [LEVEL, m.index, vocab.ALL_GROUPS if vocab.is_multigroup(m.index) else m.group]).df()
    else:
        members = ethnic_groups(con).get(m.group, [m.group])
        df = con.execute(
            """SELECT l.parent_code AS code,
                      sum(p.count) FILTER (WHERE list_contains(?, p.category)) / nullif(sum(p.count), 0) AS value
               FROM census_latest p
               JOIN area_lookup l ON l.area_code = p.area_code AND l.parent_level = ?
               WHERE p.variable = ? AND p.category <> ?
               GROUP BY 1""", [members, LEVEL, vocab.ETHNIC_GROUP, vocab.UNLISTED]).df()
    if "reliable" not in df:
        df["reliable"] = True
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df.sort_values("code").reset_index(drop=True)


def measure_frame(con: duckdb.DuckDBPyConnection, m: Measure) -> Any:
    """The map layer (wards with the measure's value) as a GeoDataFrame in EPSG:4326."""
    import geopandas as gpd
    import shapely

    geo = con.execute(
        """SELECT code, coalesce(name, code) AS name, ST_AsWKB(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326',
                  always_xy := true)) AS wkb FROM areas WHERE level = 'ward' ORDER BY code""").df()
    df = geo.merge(measure_values(con, m), on="code", how="left")
    df["measure"] = m.label
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=shapely.from_wkb(df["wkb"].map(bytes).to_numpy()),
                            crs=DISPLAY_CRS)


# -- assets -------------------------------------------------------------------------------------

def assets(con: duckdb.DuckDBPyConnection, categories: list[str], religions: list[str] | None = None,
           partner: bool = False) -> pd.DataFrame:
    """Assets to draw, in EPSG:4326: public ones always; sensitive ones only when ``partner``.

    ``religions`` filters places of worship by subtype (``unspecified`` for none); ``None``
    keeps them all.
    """
    source = "assets" if partner else "public_assets"
    return con.execute(
        f"""SELECT asset_id, category, coalesce(subtype, '') AS subtype, name, address, postcode,
                  attrs::VARCHAR AS attrs, source, licence, observed_at, ward_code, sensitive,
                  round(ST_Y(p), 6) AS lat, round(ST_X(p), 6) AS lon
           FROM (SELECT *, ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) AS p
                 FROM {source}
                 WHERE list_contains(?, category)
                   AND (category <> 'place_of_worship' OR ? IS NULL
                        OR list_contains(?, coalesce(nullif(subtype, ''), 'unspecified'))))
           ORDER BY category, asset_id""",  # noqa: S608 (one of two fixed names)
        [list(categories), religions, religions or []]).df()


def assets_frame(con: duckdb.DuckDBPyConnection, partner: bool = False) -> Any:
    """Assets for export as a GeoDataFrame: sensitive ones only for partners."""
    import geopandas as gpd

    df = assets(con, list(vocab.CATEGORIES), None, partner)
    return gpd.GeoDataFrame(df.drop(columns=["lat", "lon"]),
                            geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=DISPLAY_CRS)


def religions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The religions of the places of worship loaded (``unspecified`` where none is given)."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT coalesce(nullif(subtype, ''), 'unspecified') FROM assets "
        "WHERE category = 'place_of_worship' ORDER BY 1").fetchall()]


def sensitive_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Sensitive assets per ward and category: all public mode says about them (from the counts a
    snapshot holds; a working store has none and counts its assets)."""
    return con.execute(
        """SELECT ward_code AS code, category, in_ward AS n FROM sensitive_site_counts WHERE in_ward > 0
           UNION ALL
           SELECT coalesce(ward_code, 'unplaced'), category, count(*) FROM assets
           WHERE sensitive AND NOT EXISTS (SELECT 1 FROM sensitive_site_counts) GROUP BY ALL
           ORDER BY ALL""").df()


def assets_in_reach(con: duckdb.DuckDBPyConnection, code: str, radius_m: float = 1600.0,
                    partner: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assets within ``radius_m`` of the ward (inside it: 0 m), and the sensitive ones counted.

    Returns ``(listed, counted)``: the assets that may be listed (in public mode, not the
    sensitive ones; no coordinates either way) and the count of sensitive ones per category. A
    public snapshot holds no sensitive site: its counts within ``settings.profile_reach_m`` are
    read instead.
    """
    df = con.execute(
        """WITH w AS (SELECT geom FROM areas WHERE level = 'ward' AND code = ?)
           SELECT a.asset_id, a.category, coalesce(a.subtype, '') AS subtype, a.name, a.address, a.postcode,
                  json_extract_string(a.attrs, '$.website') AS website,
                  a.sensitive, a.source, round(ST_Distance(a.geom, w.geom)) AS distance_m,
                  coalesce(a.ward_code = ?, false) AS in_ward
           FROM assets a, w WHERE ST_DWithin(a.geom, w.geom, ?)
           ORDER BY distance_m, a.category, a.name""", [code, code, float(radius_m)]).df()
    counted = (df[df["sensitive"]].groupby("category").size().rename("sensitive_assets").reset_index()
               if len(df) else pd.DataFrame(columns=["category", "sensitive_assets"]))
    if not partner and not len(counted) and radius_m == settings.profile_reach_m:
        counted = con.execute(
            """SELECT category, in_reach AS sensitive_assets FROM sensitive_site_counts
               WHERE ward_code = ? AND in_reach > 0 ORDER BY category""", [code]).df()
    listed = df if partner else df[~df["sensitive"]]
    listed = listed.assign(website=listed["website"].map(safe_link))  # only http(s), mailto, tel become links
    return listed.reset_index(drop=True), counted


def ward_map_layers(con: duckdb.DuckDBPyConnection, code: str, partner: bool = False,
                    ward_buffer_m: float = 1500.0, asset_radius_m: float = 1600.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a ward's printed map draws, in EPSG:27700: ``(wards, points)``.

    ``wards`` (``code, wkb``): the ward and its neighbours within ``ward_buffer_m``; ``points``
    (``category, x, y``): the assets within ``asset_radius_m`` that may be shown.
    """
    geo = con.execute(
        """WITH w AS (SELECT geom FROM areas WHERE level = 'ward' AND code = ?)
           SELECT a.code, ST_AsWKB(a.geom) AS wkb FROM areas a, w
           WHERE a.level = 'ward' AND ST_DWithin(a.geom, w.geom, ?)""", [code, ward_buffer_m]).df()
    source = "assets" if partner else "public_assets"
    pts = con.execute(
        f"""WITH w AS (SELECT geom FROM areas WHERE level = 'ward' AND code = ?)
           SELECT x.category, ST_X(x.geom) AS x, ST_Y(x.geom) AS y FROM {source} x, w
           WHERE ST_DWithin(x.geom, w.geom, ?)""", [code, asset_radius_m]).df()  # noqa: S608 (fixed names)
    return geo, pts


# -- one ward -------------------------------------------------------------------------------------

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
    """The ward's segregation indices, the multigroup ones first, with labels."""
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
    """The components that move a gap most, as words: 'ESOL need +0.39, capacity -0.10'."""
    top = sorted(components or [], key=lambda c: -abs(c.get("contribution") or 0))[:n]
    return ", ".join(f"{c['component'].replace('_', ' ')} {c['contribution']:+.2f}" for c in top)


def ward_access(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """The ward's accessibility per category: how it was measured (``access_mode``), the distance
    to the nearest (on foot where a network is loaded), the walk in minutes and the straight line."""
    return con.execute(
        """SELECT category, demand_basis, demand, access_mode, nearest_m, nearest_min, crow_m, share_within_800,
                  share_within_1600, e2sfca, assets_in_unit, capacity_in_unit
           FROM unit_access WHERE unit_level = ? AND unit_code = ? ORDER BY category""", [LEVEL, code]).df()


def _distance(m: float) -> str:
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{round(m / 10) * 10:.0f} m"


def access_sentences(access: pd.DataFrame) -> list[str]:
    """One plain line per category of :func:`ward_access`, saying both distances where the walk
    is known: "Nearest ESOL class: 350 m as the crow flies, 1.2 km on foot (15 minutes' walk)"."""
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
    """How the snapshot's access was measured: ``network`` (on foot along the streets, where any
    OA was), ``crow_flies`` (straight lines), or None before any recompute."""
    modes = {r[0] for r in con.execute("SELECT DISTINCT access_mode FROM unit_access").fetchall()}
    if "network" in modes:
        return "network"
    return "crow_flies" if modes else None


def walking_area(con: duckdb.DuckDBPyConnection, asset_id: str, partner: bool = False,
                 minutes: tuple[int, ...] = (10, 20)) -> dict[str, Any] | None:
    """The streets within ``minutes`` of walking from an asset, as GeoJSON (None without a
    walking network, or for an asset this reader may not locate: a sensitive one in public)."""
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
    """The ward's bus and rail access (PTAL): ``ptal_ai``, ``ptal_band``, ``oas`` (with a figure),
    ``outside`` (OAs beyond the walking network), ``walk_mode``, the timetable's ``service_date``
    and ``source``, and ``routes``: each route within reach of any of its OAs, with the share of
    its OAs that reach it, the median walk to its best stop, its peak frequency and its median
    weighted EDF. None when no timetable is loaded."""
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
    """One plain line: "Bus and rail access: PTAL 2 (index 7.4, the residents' mean), 12 routes
    within a walk of the morning peak of Wednesday 18 July 2018". None without a timetable."""
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
    """The ward beside its local authority: residents' shares, and each category's gap.

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


# -- rankings and tables of units ------------------------------------------------------------------

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
    """The ``top`` units of ``level`` by gap for ``category``, components and flags parsed."""
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
    """Partner-published index values that differ from ours by more than ``tolerance`` (or have
    no computed value), largest difference first; and how many partner values there are."""
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


# -- provenance ------------------------------------------------------------------------------------

def layers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every layer loaded, with source, licence, vintage, rows and the ingests it came from."""
    return con.execute(
        """SELECT 'boundaries: ' || level AS layer, coalesce(source, '') AS source, '' AS licence,
                  coalesce(vintage, '') AS vintage, count(*) AS rows,
                  string_agg(DISTINCT ingest_id::VARCHAR, ', ') AS ingests
           FROM areas GROUP BY ALL
           UNION ALL
           SELECT 'census: ' || variable, coalesce(source, ''), '', vintage, count(*),
                  string_agg(DISTINCT ingest_id::VARCHAR, ', ')
           FROM population GROUP BY ALL
           UNION ALL
           SELECT 'assets: ' || category, source, coalesce(licence, ''), coalesce(max(observed_at)::VARCHAR, ''),
                  count(*), string_agg(DISTINCT ingest_id::VARCHAR, ', ')
           FROM assets GROUP BY ALL
           UNION ALL
           SELECT 'dispersal: ' || support_type, coalesce(source, ''), '', max(period)::VARCHAR, count(*),
                  string_agg(DISTINCT ingest_id::VARCHAR, ', ')
           FROM dispersal GROUP BY ALL
           ORDER BY 1, 2""").df()


def ingests(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every ingest, newest first, with its row accounting."""
    return con.execute(
        """SELECT ingest_id, path, kind, status, rows_read, rows_accepted, rows_quarantined, started_at, message
           FROM ingests ORDER BY ingest_id DESC""").df()


def quarantine_reasons(con: duckdb.DuckDBPyConnection, ingest_id: int | None = None) -> pd.DataFrame:
    """Quarantined rows per ingest and reason (of one ingest, or all), the most common first."""
    return con.execute(
        """SELECT ingest_id, reason_code, count(*) AS rows FROM quarantine WHERE ? IS NULL OR ingest_id = ?
           GROUP BY ALL ORDER BY ingest_id DESC, rows DESC, reason_code""", [ingest_id, ingest_id]).df()


def quarantine_rows(con: duckdb.DuckDBPyConnection, ingest_id: int | None = None, reason: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
    """The quarantined rows themselves, with the file each came from."""
    rows = con.execute(
        """SELECT q.ingest_id, i.path, q.row_number, q.reason_code, q.message, q.raw
           FROM quarantine q JOIN ingests i USING (ingest_id)
           WHERE (? IS NULL OR q.ingest_id = ?) AND (? IS NULL OR q.reason_code = ?)
           ORDER BY q.ingest_id, q.row_number LIMIT ?""", [ingest_id, ingest_id, reason, reason, limit]).fetchall()
    keys = ["ingest_id", "path", "row_number", "reason_code", "message", "raw"]
    return [dict(zip(keys, r, strict=True)) for r in rows]


def repairs(con: duckdb.DuckDBPyConnection, ingest_id: int | None = None, limit: int = 500) -> pd.DataFrame:
    """What readers changed in rows to store them (a code repaired by the row's name, repeated
    figures added up), with the file and the reason, newest ingest first."""
    cols = ["ingest_id", "path", "row_number", "field", "given", "stored", "reason"]
    if not scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'repairs'"):
        return pd.DataFrame(columns=cols)  # a snapshot made before repairs were recorded
    return con.execute(
        """SELECT r.ingest_id, i.path, r.row_number, r.field, r.given, r.stored, r.reason
           FROM repairs r JOIN ingests i USING (ingest_id) WHERE ? IS NULL OR r.ingest_id = ?
           ORDER BY r.ingest_id DESC, r.row_number LIMIT ?""", [ingest_id, ingest_id, limit]).df()


def events_timeline(con: duckdb.DuckDBPyConnection, limit: int = 500) -> pd.DataFrame:
    """The latest events, newest first."""
    return con.execute("SELECT occurred_at, name, payload::VARCHAR AS payload FROM events "
                       "ORDER BY occurred_at DESC LIMIT ?", [limit]).df()


# -- history: openings, closures, moves; the gap then and now -----------------------------------

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


# -- race equality scorecards ---------------------------------------------------------------------

def scorecard_las(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The local authorities with scorecard figures: code, name, figures."""
    return con.execute(
        """SELECT s.la_code AS code, coalesce(a.name, s.la_code) AS name, count(*) AS figures
           FROM scorecard_indicators s LEFT JOIN areas a ON a.level = 'la' AND a.code = s.la_code
           GROUP BY ALL ORDER BY name""").df()


def la_ethnic_population(con: duckdb.DuckDBPyConnection, la_code: str) -> dict[str, float]:
    """Residents of each ethnic category in a local authority (latest census, summed over its OAs;
    found through the OA lookup, or through its wards)."""
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
    """A local authority's scorecard: each figure as a disparity ratio against its reference group
    (value / reference value, with the interval's bounds when given), the group's and reference
    group's residents from the census beside it, and why a figure may not be reliable."""
    from assetmap.settings import settings
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


# -- language match --------------------------------------------------------------------------------

def languages_spoken(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The main languages (other than English and Welsh) with speakers in the study area, most
    speakers first."""
    return [r[0] for r in con.execute(
        "SELECT language FROM unit_languages WHERE unit_level = ? GROUP BY 1 ORDER BY sum(speakers) DESC",
        [LEVEL]).fetchall()]


def ward_languages(con: duckdb.DuckDBPyConnection, code: str, top: int = 8) -> pd.DataFrame:
    """A ward's most spoken main languages other than English or Welsh: speakers, their share of
    residents, ESOL or refugee-support providers in the language within reach, and the language gap."""
    from assetmap.vocab.languages import language_label

    df = con.execute(
        """SELECT language, speakers, share, providers, covered, language_gap FROM unit_languages
           WHERE unit_level = ? AND unit_code = ? ORDER BY rank LIMIT ?""", [LEVEL, code, top]).df()
    df.insert(0, "main language", df.pop("language").map(language_label))
    return df
