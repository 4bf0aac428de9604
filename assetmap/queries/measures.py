"""What a map may show of a unit (:class:`Measure`, found again from a URL) and the values of one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pandas as pd

from assetmap import vocab
from assetmap.queries.overview import ethnic_groups
from assetmap.settings import DISPLAY_CRS

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
        """Refuse a measure whose language, kind, category, field, index or group is unknown."""
        from assetmap.vocab.languages import LANGUAGES

        if self.language not in LANGUAGES:
            msg = f"unknown language {self.language!r}"
            raise ValueError(msg)
        if self.kind not in KINDS:
            msg = f"unknown measure {self.kind!r}"
            raise ValueError(msg)
        if self.category not in vocab.CATEGORIES:
            msg = f"unknown category {self.category!r}"
            raise ValueError(msg)
        if self.field not in ACCESS_FIELDS:
            msg = f"unknown accessibility field {self.field!r}"
            raise ValueError(msg)
        if self.index not in vocab.INDEX_LABELS:
            msg = f"unknown index {self.index!r}"
            raise ValueError(msg)

    @property
    def label(self) -> str:
        """What the measure shows, as a legend's title."""
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
        """Return the query parameters that find this measure again (only those that matter)."""
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
        """Return a measure from query parameters; anything unknown falls back to the default."""
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
    """Return the map layer (wards with the measure's value) as a GeoDataFrame in EPSG:4326."""
    import geopandas as gpd
    import shapely

    geo = con.execute(
        """SELECT code, coalesce(name, code) AS name, ST_AsWKB(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326',
                  always_xy := true)) AS wkb FROM areas WHERE level = 'ward' ORDER BY code""").df()
    df = geo.merge(measure_values(con, m), on="code", how="left")
    df["measure"] = m.label
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=shapely.from_wkb(df["wkb"].map(bytes).to_numpy()),
                            crs=DISPLAY_CRS)


