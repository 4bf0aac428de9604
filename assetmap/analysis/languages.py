"""Language match: where residents' main languages meet providers who work in them.

For each unit and each main language other than English or Welsh (the census's ``main_language``
counts at OA), the residents who speak it (``speakers``), how many of them live in an output
area within reach (``settings.catchments_m[-1]``, 1,600 m) of an ESOL or refugee-support
provider listing that language (``covered``), and ``language_gap = 1 - covered / speakers``:
the share of a language's speakers with no provider in their language within reach. The census
cross-tabulation of proficiency by language is not published at OA, so the speakers are all
residents of that main language (``basis`` says so). Languages are ranked within each unit by
speakers.
"""

from __future__ import annotations

import json
import logging

import duckdb
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from assetmap.settings import settings
from assetmap.store import scalar
from assetmap.vocab.languages import NOT_ESOL, language_slug

log = logging.getLogger(__name__)

PROVIDER_CATEGORIES = ("esol_provider", "refugee_support")
BASIS = "all residents of the main language (proficiency by language is not published at OA)"
COLUMNS = ["unit_code", "language", "speakers", "share", "covered", "language_gap", "providers", "rank", "basis"]


def provider_languages(con: duckdb.DuckDBPyConnection,
                       bounds: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """``asset_id, language, x, y``: each ESOL or refugee-support provider once per language it
    lists (those within ``bounds``, EPSG:27700, when given)."""
    lo_x, lo_y, hi_x, hi_y = bounds if bounds is not None else (None, None, None, None)
    df = con.execute(
        """SELECT asset_id, ST_X(geom) AS x, ST_Y(geom) AS y, json_extract(attrs, '$.languages')::VARCHAR AS langs
           FROM assets WHERE list_contains(?, category) AND json_extract(attrs, '$.languages') IS NOT NULL
             AND (?::DOUBLE IS NULL OR ST_X(geom) BETWEEN ? AND ?)
             AND (?::DOUBLE IS NULL OR ST_Y(geom) BETWEEN ? AND ?)""",
        [list(PROVIDER_CATEGORIES), lo_x, lo_x, hi_x, lo_y, lo_y, hi_y]).df()
    rows = []
    for r in df.itertuples():
        try:
            names = json.loads(r.langs)
        except (TypeError, ValueError):
            continue
        for name in names if isinstance(names, list) else [names]:
            slug = language_slug(str(name))
            if slug and slug not in NOT_ESOL:
                rows.append((r.asset_id, slug, r.x, r.y))
    return pd.DataFrame(rows, columns=["asset_id", "language", "x", "y"]).drop_duplicates(["asset_id", "language"])


def compute(con: duckdb.DuckDBPyConnection, umap: pd.Series) -> pd.DataFrame:
    """The language match of every unit in ``umap`` (oa_code -> unit_code); empty when no
    main-language table is loaded."""
    if not scalar(con, "SELECT EXISTS (SELECT 1 FROM population WHERE variable = 'main_language')"):
        return pd.DataFrame(columns=COLUMNS)
    # the OAs asked for first, then each one's latest vintage (an incremental recompute asks for a few)
    speakers = con.execute(
        """WITH c AS (SELECT area_code, category, count FROM population
                      WHERE variable = 'main_language' AND list_contains(?, area_code)
                      QUALIFY vintage = max(vintage) OVER (PARTITION BY area_code))
           SELECT c.area_code AS oa_code, c.category AS language, c.count::DOUBLE AS n,
                  ST_X(ST_PointOnSurface(a.geom)) AS x, ST_Y(ST_PointOnSurface(a.geom)) AS y
           FROM c JOIN areas a ON a.level = 'oa' AND a.code = c.area_code WHERE c.count > 0""",
        [list(umap.index)]).df()
    if speakers.empty:
        return pd.DataFrame(columns=COLUMNS)
    speakers["unit_code"] = umap.reindex(speakers["oa_code"]).to_numpy()
    residents = speakers.groupby("unit_code")["n"].sum()
    wanted = speakers[~speakers["language"].isin([*NOT_ESOL, "unlisted", "other"])].copy()
    reach = float(settings.catchments_m[-1])
    # only providers that can reach these OAs (an incremental recompute asks for a few units)
    providers = provider_languages(con, (float(wanted["x"].min()) - reach, float(wanted["y"].min()) - reach,
                                         float(wanted["x"].max()) + reach, float(wanted["y"].max()) + reach)
                                   if len(wanted) else None)
    wanted["covered"] = 0.0
    by_unit_providers: dict[tuple[str, str], set[str]] = {}
    for lang, grp in wanted.groupby("language"):
        prov = providers[providers["language"] == lang]
        if prov.empty:
            continue
        tree = cKDTree(prov[["x", "y"]].to_numpy(float))
        hits = tree.query_ball_point(grp[["x", "y"]].to_numpy(float), r=reach)
        has = np.fromiter((len(h) > 0 for h in hits), bool, len(hits))
        wanted.loc[grp.index[has], "covered"] = grp.loc[grp.index[has], "n"]
        ids = prov["asset_id"].to_numpy()
        for unit, h in zip(grp["unit_code"], hits, strict=True):
            if h:
                by_unit_providers.setdefault((unit, lang), set()).update(ids[h])
    out = wanted.groupby(["unit_code", "language"], as_index=False).agg(speakers=("n", "sum"),
                                                                        covered=("covered", "sum"))
    out["share"] = out["speakers"] / residents.reindex(out["unit_code"]).to_numpy()
    out["language_gap"] = 1.0 - out["covered"] / out["speakers"]
    out["providers"] = [len(by_unit_providers.get((u, lang), ())) for u, lang in zip(out["unit_code"],
                                                                                   out["language"], strict=True)]
    out["rank"] = out.groupby("unit_code")["speakers"].rank(method="first", ascending=False).astype(int)
    out["basis"] = BASIS
    return out[COLUMNS].sort_values(["unit_code", "rank"]).reset_index(drop=True)
