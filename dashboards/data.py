"""What the dashboard shows, read from a published snapshot: pure functions, no Streamlit.

Every function takes an open (read-only) DuckDB connection to a snapshot and returns plain
pandas/dicts, so the pages stay thin and the reads are tested without a browser. SQL takes its
values as parameters; the few identifiers chosen by the user (a measure's column) come from
the whitelists below, never from the request.

Sensitive assets (refugee support venues, women-only spaces) leave this module as coordinates
only when ``partner`` is true; in public mode they are counted per ward and nothing else.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from assetmap import census as vocab
from assetmap.categories import CATEGORIES
from assetmap.recompute import focal_groups
from assetmap.settings import DISPLAY_CRS

LEVEL = "ward"

CATEGORY_LABELS = {
    "esol_provider": "ESOL classes",
    "community_centre": "Community centres",
    "place_of_worship": "Places of worship",
    "refugee_support": "Refugee support",
}
KINDS = {
    "gap": "Provision gap",
    "need": "Need",
    "supply": "Supply",
    "access": "Accessibility",
    "index": "Segregation index",
    "share": "Share of residents",
}
#: accessibility fields of ward_access a map may show
ACCESS_FIELDS = {
    "e2sfca": "E2SFCA (supply per person in need within reach)",
    "nearest_m": "Distance to the nearest (m, need-weighted)",
    "share_within_800": "Share in need within 800 m",
    "share_within_1600": "Share in need within 1,600 m",
}
TWO_GROUP = ("dissimilarity", "isolation", "exposure", "correlation_ratio", "gini", "location_quotient")
MULTIGROUP = ("theil_h", "multigroup_dissimilarity", "simpson_interaction", "simpson_concentration", "entropy")
INDEX_LABELS = {
    "dissimilarity": "Dissimilarity D", "isolation": "Isolation", "exposure": "Exposure",
    "correlation_ratio": "Correlation ratio", "gini": "Gini", "location_quotient": "Location quotient",
    "theil_h": "Theil's H (multigroup)", "multigroup_dissimilarity": "Multigroup D",
    "simpson_interaction": "Simpson's interaction", "simpson_concentration": "Simpson's concentration",
    "entropy": "Entropy (diversity)",
}
SCHEMES = {"quantiles": "Quantiles", "fisher_jenks": "Fisher-Jenks", "equal_interval": "Equal interval"}
_GAP_COLUMNS = {"gap": "gap", "need": "need", "supply": "supply"}


@dataclass(frozen=True)
class Measure:
    """One ward measure the map can show, with what it needs to be found again from a URL."""

    kind: str = "gap"
    category: str = "esol_provider"
    field: str = "e2sfca"
    index: str = "dissimilarity"
    group: str = "all"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown measure {self.kind!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if self.field not in ACCESS_FIELDS:
            raise ValueError(f"unknown accessibility field {self.field!r}")
        if self.index not in INDEX_LABELS:
            raise ValueError(f"unknown index {self.index!r}")

    @property
    def label(self) -> str:
        cat = CATEGORY_LABELS.get(self.category, self.category)
        if self.kind in _GAP_COLUMNS:
            return f"{KINDS[self.kind]}: {cat}"
        if self.kind == "access":
            return f"{ACCESS_FIELDS[self.field]}: {cat}"
        if self.kind == "index":
            group = "" if self.index in MULTIGROUP else f" ({group_label(self.group)})"
            return f"{INDEX_LABELS[self.index]}{group}"
        return f"Share of residents: {group_label(self.group)}"

    def params(self) -> dict[str, str]:
        """The query parameters that find this measure again (only those that matter)."""
        out = {"measure": self.kind}
        if self.kind in (*_GAP_COLUMNS, "access"):
            out["category"] = self.category
        if self.kind == "access":
            out["field"] = self.field
        if self.kind == "index":
            out["index"] = self.index
        if (self.kind == "index" and self.index not in MULTIGROUP) or self.kind == "share":
            out["group"] = self.group
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Measure:
        """A measure from query parameters; anything unknown falls back to the default."""
        base = asdict(cls())
        mapping = {"measure": "kind", "category": "category", "field": "field", "index": "index",
                   "group": "group"}
        for key, attr in mapping.items():
            if params.get(key):
                base[attr] = str(params[key])
        try:
            m = cls(**base)
        except ValueError:
            return cls()
        if m.kind == "index" and m.index in MULTIGROUP and m.group != "all":
            m = cls(**{**asdict(m), "group": "all"})
        if m.kind == "index" and m.index not in MULTIGROUP and m.group == "all":
            m = cls(**{**asdict(m), "group": "white_british"})
        return m


def group_label(group: str) -> str:
    if group == "all":
        return "all groups"
    if group.endswith("_all"):
        return f"{group[:-4].title()} (all)"
    return group.replace("_", " ").title()


# -- snapshot summary ---------------------------------------------------------------------------

def has_table_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    known = {"ward_gaps", "ward_indices", "ward_access", "dispersal", "assets", "display_areas"}
    if table not in known:
        raise ValueError(table)
    return bool(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 (whitelisted)


def summary(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = con.execute(
        """SELECT (SELECT count(*) FROM areas WHERE level = 'ward'),
                  (SELECT count(*) FROM areas WHERE level = 'oa'),
                  (SELECT count(*) FROM assets),
                  (SELECT count(*) FROM assets WHERE sensitive),
                  (SELECT count(*) FROM ingests)""").fetchone()
    return dict(zip(("wards", "oas", "assets", "sensitive_assets", "ingests"), row, strict=True))


def wards(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``code, name, la_code, la_name`` of every ward (the LA of most of its OAs)."""
    return con.execute(
        """WITH w AS (SELECT code, name FROM areas WHERE level = 'ward'),
           la AS (
               SELECT l1.parent_code AS ward, l2.parent_code AS la_code, count(*) AS n
               FROM area_lookup l1 JOIN area_lookup l2 ON l2.area_code = l1.area_code AND l2.parent_level = 'la'
               WHERE l1.parent_level = 'ward' GROUP BY l1.parent_code, l2.parent_code
               QUALIFY row_number() OVER (PARTITION BY l1.parent_code ORDER BY count(*) DESC, la_code) = 1)
           SELECT w.code, coalesce(w.name, w.code) AS name, la.la_code, coalesce(a.name, la.la_code) AS la_name
           FROM w LEFT JOIN la ON la.ward = w.code LEFT JOIN areas a ON a.code = la.la_code AND a.level = 'la'
           ORDER BY w.code""").df()


def ethnic_groups(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    cats = [r[0] for r in con.execute(
        "SELECT DISTINCT category FROM population WHERE variable = ? ORDER BY 1", [vocab.ETHNIC_GROUP]).fetchall()]
    return focal_groups(cats)


def _latest_population(variable: str) -> str:
    return ("(SELECT area_code, category, count FROM population WHERE variable = '" + variable + "' "
            "QUALIFY vintage = max(vintage) OVER (PARTITION BY area_code))")


# -- measures -----------------------------------------------------------------------------------

def measure_values(con: duckdb.DuckDBPyConnection, m: Measure) -> pd.DataFrame:
    """``code, value, reliable`` of every ward for measure ``m`` (missing wards have no row)."""
    if m.kind in _GAP_COLUMNS:
        col = _GAP_COLUMNS[m.kind]
        df = con.execute(f"SELECT ward_code AS code, {col} AS value FROM ward_gaps "  # noqa: S608 (whitelisted)
                         "WHERE unit_level = ? AND category = ?", [LEVEL, m.category]).df()
    elif m.kind == "access":
        col = m.field if m.field in ACCESS_FIELDS else "e2sfca"
        df = con.execute(f"SELECT ward_code AS code, {col} AS value FROM ward_access "  # noqa: S608 (whitelisted)
                         "WHERE unit_level = ? AND category = ?", [LEVEL, m.category]).df()
    elif m.kind == "index":
        df = con.execute("SELECT ward_code AS code, value, reliable FROM ward_indices "
                         "WHERE unit_level = ? AND index_name = ? AND focal_group = ?",
                         [LEVEL, m.index, "all" if m.index in MULTIGROUP else m.group]).df()
    else:
        members = ethnic_groups(con).get(m.group, [m.group])
        df = con.execute(
            f"""SELECT l.parent_code AS code,
                       sum(p.count) FILTER (WHERE list_contains(?, p.category)) / nullif(sum(p.count), 0) AS value
                FROM {_latest_population(vocab.ETHNIC_GROUP)} p
                JOIN area_lookup l ON l.area_code = p.area_code AND l.parent_level = 'ward'
                GROUP BY 1""", [members]).df()  # noqa: S608 (constant variable name)
    if "reliable" not in df:
        df["reliable"] = True
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df.sort_values("code").reset_index(drop=True)


def classify(values: pd.Series, scheme: str, k: int) -> tuple[np.ndarray, list[float]]:
    """Class of each value (``-1`` for missing) and the upper bounds, with mapclassify.

    Fewer distinct values than ``k`` give fewer classes.
    """
    import mapclassify

    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    ok = np.isfinite(v)
    classes = np.full(len(v), -1, dtype=int)
    if not ok.any():
        return classes, []
    k = int(max(2, min(k, len(np.unique(v[ok])))))
    if len(np.unique(v[ok])) < 2:
        classes[ok] = 0
        return classes, [float(v[ok].max())]
    cls = {"quantiles": mapclassify.Quantiles, "fisher_jenks": mapclassify.FisherJenks,
           "equal_interval": mapclassify.EqualInterval}.get(scheme, mapclassify.Quantiles)
    with warnings.catch_warnings():  # many equal values: mapclassify merges classes, as wanted
        warnings.simplefilter("ignore", UserWarning)
        fitted = cls(v[ok], k=k)
    classes[ok] = fitted.yb
    return classes, [float(b) for b in fitted.bins]


# -- assets -------------------------------------------------------------------------------------

def assets(con: duckdb.DuckDBPyConnection, categories: list[str], religions: list[str] | None = None,
           partner: bool = False) -> pd.DataFrame:
    """Assets to draw: public ones always; sensitive ones only when ``partner``.

    ``religions`` filters places of worship by subtype (``unspecified`` for none); ``None``
    keeps them all.
    """
    return con.execute(
        """SELECT asset_id, category, coalesce(subtype, '') AS subtype, name, address, postcode,
                  attrs::VARCHAR AS attrs, source, licence, observed_at, ward_code, sensitive,
                  round(ST_Y(p), 6) AS lat, round(ST_X(p), 6) AS lon
           FROM (SELECT *, ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true) AS p
                 FROM assets
                 WHERE (? OR NOT sensitive) AND list_contains(?, category)
                   AND (category <> 'place_of_worship' OR ? IS NULL
                        OR list_contains(?, coalesce(nullif(subtype, ''), 'unspecified'))))
           ORDER BY category, asset_id""",
        [partner, list(categories), religions, religions or []]).df()


def religions(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT DISTINCT coalesce(nullif(subtype, ''), 'unspecified') FROM assets "
        "WHERE category = 'place_of_worship' ORDER BY 1").fetchall()]


def sensitive_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Sensitive assets per ward and category: all public mode says about them."""
    return con.execute(
        """SELECT coalesce(ward_code, 'unplaced') AS code, category, count(*) AS n FROM assets
           WHERE sensitive GROUP BY ALL ORDER BY ALL""").df()


# -- the ward profile ---------------------------------------------------------------------------

def ward_la(con: duckdb.DuckDBPyConnection, code: str, w: pd.DataFrame | None = None) -> tuple[str | None, str | None]:
    """The ward's local authority (code, name); ``w`` is :func:`wards` if already read."""
    w = wards(con) if w is None else w
    row = w[w["code"] == code]
    if row.empty:
        return None, None
    return row["la_code"].iloc[0], row["la_name"].iloc[0]


def population_mix(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Residents of each ethnic group in the ward and the shares in the ward and its LA."""
    la_code, _ = ward_la(con, code)
    df = con.execute(
        f"""WITH p AS {_latest_population(vocab.ETHNIC_GROUP)},
            w AS (SELECT area_code FROM area_lookup WHERE parent_level = 'ward' AND parent_code = ?),
            l AS (SELECT area_code FROM area_lookup WHERE parent_level = 'la' AND parent_code = ?)
            SELECT p.category AS group_code,
                   sum(p.count) FILTER (WHERE p.area_code IN (SELECT area_code FROM w)) AS residents,
                   sum(p.count) FILTER (WHERE p.area_code IN (SELECT area_code FROM l)) AS la_residents
            FROM p GROUP BY 1 ORDER BY 1""", [code, la_code]).df()  # noqa: S608 (constant)
    df = df.fillna(0)
    df = df[(df["residents"] > 0) | (df["la_residents"] > 0)].copy()
    df["group"] = df["group_code"].map(group_label)
    df["share"] = df["residents"] / max(df["residents"].sum(), 1)
    df["la_share"] = df["la_residents"] / max(df["la_residents"].sum(), 1)
    return df.sort_values("residents", ascending=False).reset_index(drop=True)


def ward_indices(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    df = con.execute(
        """SELECT focal_group, index_name, value, ci_low, ci_high, reliable, n_oas FROM ward_indices
           WHERE unit_level = ? AND ward_code = ? ORDER BY focal_group <> 'all', focal_group, index_name""",
        [LEVEL, code]).df()
    df["index"] = df["index_name"].map(INDEX_LABELS)
    df["group"] = df["focal_group"].map(group_label)
    return df


def ward_gaps(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """Each category's gap, need, supply, rank (of how many), components, flags, strengths."""
    df = con.execute(
        """SELECT category, gap, need, supply, rank,
                  count(*) OVER (PARTITION BY category) AS of_units, components, flags, strengths, ward_code
           FROM ward_gaps WHERE unit_level = ? QUALIFY ward_code = ?""", [LEVEL, code]).df()
    for col in ("components", "flags", "strengths"):
        df[col] = df[col].map(lambda s: json.loads(s) if isinstance(s, str) else s)
    df["label"] = df["category"].map(CATEGORY_LABELS)
    return df.drop(columns="ward_code").reset_index(drop=True)


def why(components: list[dict[str, Any]], n: int = 3) -> str:
    """The components that move a gap most, as words: 'ESOL need +0.39, capacity -0.10'."""
    top = sorted(components or [], key=lambda c: -abs(c.get("contribution") or 0))[:n]
    return ", ".join(f"{c['component'].replace('_', ' ')} {c['contribution']:+.2f}" for c in top)


def ward_access(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    return con.execute(
        """SELECT category, demand_basis, demand, nearest_m, share_within_800, share_within_1600, e2sfca,
                  assets_in_unit, capacity_in_unit
           FROM ward_access WHERE unit_level = ? AND ward_code = ? ORDER BY category""", [LEVEL, code]).df()


def assets_in_reach(con: duckdb.DuckDBPyConnection, code: str, radius_m: float = 1600.0,
                    partner: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assets within ``radius_m`` of the ward (inside it: 0 m), and the sensitive ones counted.

    Returns ``(listed, counted)``: the assets that may be listed (in public mode, not the
    sensitive ones; no coordinates either way) and the count of sensitive ones per category.
    """
    df = con.execute(
        """WITH w AS (SELECT geom FROM areas WHERE level = 'ward' AND code = ?)
           SELECT a.asset_id, a.category, coalesce(a.subtype, '') AS subtype, a.name, a.address, a.postcode,
                  a.sensitive, a.source, round(ST_Distance(a.geom, w.geom)) AS distance_m,
                  coalesce(a.ward_code = ?, false) AS in_ward
           FROM assets a, w WHERE ST_DWithin(a.geom, w.geom, ?)
           ORDER BY distance_m, a.category, a.name""", [code, code, float(radius_m)]).df()
    counted = (df[df["sensitive"]].groupby("category").size().rename("sensitive_assets").reset_index()
               if len(df) else pd.DataFrame(columns=["category", "sensitive_assets"]))
    listed = df if partner else df[~df["sensitive"]]
    return listed.reset_index(drop=True), counted


def ward_vs_la(con: duckdb.DuckDBPyConnection, code: str) -> pd.DataFrame:
    """The ward beside its local authority: residents, shares in need, and each category's gap.

    The LA's gap is the mean over its wards, weighted by residents in need.
    """
    w = wards(con)
    la_code, _ = ward_la(con, code, w)
    la_wards = w.loc[w["la_code"] == la_code, "code"].tolist() if la_code else [code]
    rows = []

    def shares(variable: str, cats: list[str], exclude: bool, area_codes_sql: str, arg: str) -> float | None:
        r = con.execute(
            f"""SELECT sum(count) FILTER (WHERE list_contains(?, category) <> ?) / nullif(sum(count), 0)
                FROM {_latest_population(variable)}
                WHERE area_code IN ({area_codes_sql})""", [cats, exclude, arg]).fetchone()  # noqa: S608 (constants)
        return None if r is None or r[0] is None else float(r[0])

    ward_oas = "SELECT area_code FROM area_lookup WHERE parent_level = 'ward' AND parent_code = ?"
    la_oas = "SELECT area_code FROM area_lookup WHERE parent_level = 'la' AND parent_code = ?"
    for label, variable, cats, exclude in [
        ("Share who cannot speak English well or at all", vocab.ENGLISH_PROFICIENCY, ["not_well", "cannot"], False),
        ("Share born outside the UK", vocab.COUNTRY_OF_BIRTH, ["uk", "unlisted"], True),
        ("Share White British", vocab.ETHNIC_GROUP, ["white_british"], False),
    ]:
        rows.append({"measure": label, "ward": shares(variable, cats, exclude, ward_oas, code),
                     "local_authority": shares(variable, cats, exclude, la_oas, la_code) if la_code else None})
    gaps = con.execute(
        """SELECT g.category, g.ward_code, g.gap, a.demand FROM ward_gaps g
           JOIN ward_access a USING (unit_level, ward_code, category)
           WHERE g.unit_level = ? AND list_contains(?, g.ward_code)""", [LEVEL, la_wards]).df()
    for cat, grp in gaps.groupby("category"):
        mine = grp.loc[grp["ward_code"] == code, "gap"]
        weights = grp["demand"].clip(lower=0)
        la_mean = float(np.average(grp["gap"], weights=weights)) if weights.sum() > 0 else float(grp["gap"].mean())
        rows.append({"measure": f"Provision gap: {CATEGORY_LABELS.get(cat, cat)}",
                     "ward": float(mine.iloc[0]) if len(mine) else None, "local_authority": la_mean})
    return pd.DataFrame(rows, columns=["measure", "ward", "local_authority"])


# -- rankings, dispersal, provenance -------------------------------------------------------------

def gap_ranking(con: duckdb.DuckDBPyConnection, category: str) -> pd.DataFrame:
    """Wards by provision gap for ``category``: rank, ward, LA, gap, need, supply, flags, why."""
    df = con.execute(
        """SELECT rank, ward_code AS code, gap, need, supply, flags, components FROM ward_gaps
           WHERE unit_level = ? AND category = ? ORDER BY rank, code""", [LEVEL, category]).df()
    df = df.merge(wards(con), on="code", how="left")
    df["flags"] = df["flags"].map(lambda s: ", ".join(json.loads(s)) if isinstance(s, str) else "")
    df["why"] = df["components"].map(lambda s: why(json.loads(s)) if isinstance(s, str) else "")
    return df[["rank", "code", "name", "la_name", "gap", "need", "supply", "flags", "why"]]


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
    return con.execute(
        """SELECT ingest_id, path, kind, status, rows_read, rows_accepted, rows_quarantined, started_at, message
           FROM ingests ORDER BY ingest_id DESC""").df()


def events_timeline(con: duckdb.DuckDBPyConnection, limit: int = 500) -> pd.DataFrame:
    return con.execute("SELECT occurred_at, name, payload::VARCHAR AS payload FROM events "
                       "ORDER BY occurred_at DESC LIMIT ?", [limit]).df()


def compare_gaps(now: duckdb.DuckDBPyConnection, before: duckdb.DuckDBPyConnection,
                 tolerance: float = 1e-9) -> pd.DataFrame:
    """Wards whose gap changed between two snapshots, per category, largest change first."""
    q = "SELECT ward_code AS code, category, gap, rank FROM ward_gaps WHERE unit_level = ?"
    a = now.execute(q, [LEVEL]).df()
    b = before.execute(q, [LEVEL]).df()
    m = a.merge(b, on=["code", "category"], how="outer", suffixes=("_now", "_before"))
    m["change"] = m["gap_now"] - m["gap_before"]
    changed = m[(m["change"].abs() > tolerance) | m["gap_now"].isna() | m["gap_before"].isna()].copy()
    changed = changed.merge(wards(now), on="code", how="left")
    changed["category"] = changed["category"].map(lambda c: CATEGORY_LABELS.get(c, c))
    changed = changed.reindex(changed["change"].abs().sort_values(ascending=False, na_position="first").index)
    return changed[["code", "name", "category", "gap_before", "gap_now", "change", "rank_before",
                    "rank_now"]].reset_index(drop=True)


# -- exports --------------------------------------------------------------------------------------

def measure_frame(con: duckdb.DuckDBPyConnection, m: Measure):
    """The current map layer (wards with the measure's value) as a GeoDataFrame in EPSG:4326."""
    import geopandas as gpd
    import shapely

    geo = con.execute(
        """SELECT code, coalesce(name, code) AS name, ST_AsWKB(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326',
                  always_xy := true)) AS wkb FROM areas WHERE level = 'ward' ORDER BY code""").df()
    vals = measure_values(con, m)
    df = geo.merge(vals, on="code", how="left")
    df["measure"] = m.label
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=shapely.from_wkb(df["wkb"].map(bytes).to_numpy()),
                            crs=DISPLAY_CRS)


def to_bytes(frame, fmt: str, layer: str = "layer") -> bytes:
    """A (Geo)DataFrame as GeoJSON, GeoPackage or CSV bytes (CSV without geometry)."""
    if fmt == "csv":
        return pd.DataFrame(frame).drop(columns="geometry", errors="ignore").to_csv(index=False).encode("utf-8")
    if fmt not in ("geojson", "gpkg"):
        raise ValueError(f"unknown format {fmt!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer}.{fmt}"
        frame.to_file(path, driver="GeoJSON" if fmt == "geojson" else "GPKG", layer=layer)
        return path.read_bytes()


def public_assets_frame(con: duckdb.DuckDBPyConnection, partner: bool = False):
    """Assets for export: sensitive ones only in partner mode (their locations never leave otherwise)."""
    import geopandas as gpd

    df = assets(con, list(CATEGORIES), None, partner)
    return gpd.GeoDataFrame(df.drop(columns=["lat", "lon"]),
                            geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=DISPLAY_CRS)
