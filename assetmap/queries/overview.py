"""The snapshot as a whole: whether a table has rows, what it holds, its wards and their local authorities."""

from __future__ import annotations

import json
from typing import Any, cast

import duckdb
import pandas as pd

from assetmap import vocab
from assetmap.db.sql import scalar

#: Tables whose emptiness a page asks about.
_COUNTABLE = frozenset({"unit_gaps", "unit_indices", "unit_access", "dispersal", "assets", "display_areas"})


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
    """Return the ward's local authority (code, name)."""
    w = ward(con, code)
    return (None, None) if w is None else (w["la_code"], w["la_name"])


def la_wards(con: duckdb.DuckDBPyConnection, la_code: str) -> list[str]:
    """Return the wards whose local authority (that of most of their OAs) is ``la_code``."""
    df = con.execute(
        """WITH w AS (SELECT DISTINCT l1.parent_code AS code, NULL AS name
                      FROM area_lookup l1 JOIN area_lookup l2
                        ON l2.area_code = l1.area_code AND l2.parent_level = 'la' AND l2.parent_code = ?
                      WHERE l1.parent_level = 'ward'), """ + _WARD_LA, [la_code]).df()  # noqa: S608
    return cast("list[str]", df.loc[df["la_code"] == la_code, "code"].tolist())


def ward_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many wards the store holds."""
    return int(scalar(con, "SELECT count(*) FROM areas WHERE level = 'ward'") or 0)


def ethnic_groups(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Return the focal groups the loaded ethnic-group table supports."""
    cats = [r[0] for r in con.execute(
        "SELECT DISTINCT category FROM population WHERE variable = ? ORDER BY 1", [vocab.ETHNIC_GROUP]).fetchall()]
    return vocab.focal_groups(cats)


def feature_collection(con: duckdb.DuckDBPyConnection, level: str, detail: str,
                       properties: pd.DataFrame | None = None) -> dict[str, Any]:
    """Return the display geometry of ``level`` as a GeoJSON FeatureCollection.

    Return the display geometry of ``level`` (made by :func:`assetmap.display.refresh`) as a GeoJSON
    FeatureCollection.

    ``properties`` (indexed by code) adds columns to each feature's properties; every feature has
    ``code`` and ``name``.
    """
    df = con.execute(
        """SELECT d.code, a.name, d.geojson FROM display_areas d
           JOIN areas a ON a.code = d.code AND a.level = d.level
           WHERE d.level = ? AND d.detail = ? ORDER BY d.code""", [level, detail]).df()
    features = []
    extra = properties.to_dict("index") if properties is not None else {}
    for code, name, geom in zip(df["code"], df["name"], df["geojson"], strict=True):
        props = {"code": code, "name": name or code}
        props.update(extra.get(code, {}))
        features.append({"type": "Feature", "id": code, "properties": props, "geometry": json.loads(geom)})
    return {"type": "FeatureCollection", "features": features}
