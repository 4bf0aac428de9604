"""Assets: by category, near a ward, on its map, and the sensitive ones counted (never located) for the public."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from assetmap import vocab
from assetmap.settings import DISPLAY_CRS, settings
from assetmap.vocab.categories import safe_link


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
    """Return the religions of the places of worship loaded (``unspecified`` where none is given)."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT coalesce(nullif(subtype, ''), 'unspecified') FROM assets "
        "WHERE category = 'place_of_worship' ORDER BY 1").fetchall()]


def sensitive_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Sensitive assets per ward and category.

    All public mode says about them (from the counts a snapshot holds; a working store has none and counts its
    assets).
    """
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
    """Return what a ward's printed map draws, in EPSG:27700: ``(wards, points)``.

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


