"""Language match: where residents' main languages meet providers who work in them.

For each unit and each main language other than English or Welsh (the census's ``main_language``
counts at OA), the residents who speak it (``speakers``), how many of them live in an output
area within reach (``settings.catchments_m[-1]``, 1,600 m) of an ESOL or refugee-support
provider listing that language (``covered``), and ``language_gap = 1 - covered / speakers``:
the share of a language's speakers with no provider in their language within reach. Reach is a
walk along the street network where one is loaded (speakers in output areas beyond its extent are
left out of the share), otherwise a straight line. The census
cross-tabulation of proficiency by language is not published at OA, so the speakers are all
residents of that main language (``basis`` says so). Languages are ranked within each unit by
speakers.
"""

from __future__ import annotations

import contextlib
import json
import logging

import duckdb
import numpy as np
import pandas as pd

from assetmap.db.sql import scalar
from assetmap.network import Costs, costs_for
from assetmap.settings import settings
from assetmap.vocab.languages import LANGUAGES, NOT_ESOL, language_slug

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


def compute(con: duckdb.DuckDBPyConnection, umap: pd.Series, points: pd.DataFrame | None = None,
            costs: Costs | None = None) -> pd.DataFrame:
    """The language match of every unit in ``umap`` (oa_code -> unit_code); empty when no
    main-language table is loaded. ``points`` (``oa_code, x, y``: each OA's point on surface, as
    the full recompute's inputs hold them) saves finding them again, and ``costs`` (made for
    those points) measuring again."""
    if not scalar(con, "SELECT EXISTS (SELECT 1 FROM population WHERE variable = 'main_language')"):
        return pd.DataFrame(columns=COLUMNS)
    unit_codes = pd.Index(pd.unique(umap.to_numpy(dtype=object)))
    units = pd.DataFrame({"oa_code": umap.index.to_numpy(dtype=object),
                          "k": unit_codes.get_indexer(umap.to_numpy(dtype=object))})
    con.register("_lang_units", units)
    try:
        if points is None:
            points = con.execute(
                """SELECT code AS oa_code, ST_X(p) AS x, ST_Y(p) AS y FROM (
                       SELECT a.code, ST_PointOnSurface(a.geom) AS p FROM areas a
                       JOIN _lang_units u ON u.oa_code = a.code WHERE a.level = 'oa')""").df()
        points = points[["oa_code", "x", "y"]].reset_index(drop=True).assign(pt=lambda d: np.arange(len(d)))
        con.register("_lang_points", points)
        skip = [*NOT_ESOL, "unlisted", "other"]
        lang_codes = np.array([c for c in LANGUAGES if c not in skip], dtype=object)  # what the readers store
        # the OAs asked for first, then each one's latest vintage (an incremental recompute asks for a
        # few); each unit's residents beside each row; units and languages as numbers, so that
        # millions of rows stay arrays
        rows = con.execute(
            """WITH sp AS (SELECT p.area_code, u.k, p.category, p.count FROM population p
                           JOIN _lang_units u ON u.oa_code = p.area_code
                           WHERE p.variable = 'main_language' AND p.count > 0
                           QUALIFY p.vintage = max(p.vintage) OVER (PARTITION BY p.area_code)),
                    t AS (SELECT sp.*, sum(sp.count) OVER (PARTITION BY sp.k) AS residents FROM sp)
               SELECT t.k, list_position(?, t.category) - 1 AS lang, t.count::DOUBLE AS n,
                      t.residents::DOUBLE AS residents, pt.x, pt.y, pt.pt
               FROM t JOIN _lang_points pt ON pt.oa_code = t.area_code
               WHERE list_contains(?, t.category)""", [list(lang_codes), list(lang_codes)]).fetchnumpy()
    finally:
        con.unregister("_lang_units")
        with contextlib.suppress(Exception):
            con.unregister("_lang_points")
    if not len(rows["k"]):
        return pd.DataFrame(columns=COLUMNS)
    k, lang, n, x, y, pt = (np.asarray(rows[c]) for c in ("k", "lang", "n", "x", "y", "pt"))
    residents = np.zeros(len(unit_codes))
    residents[k] = np.asarray(rows["residents"])
    reach = float(settings.catchments_m[-1])
    # only providers that can reach these OAs (an incremental recompute asks for a few units)
    providers = provider_languages(con, (float(x.min()) - reach, float(y.min()) - reach,
                                         float(x.max()) + reach, float(y.max()) + reach))
    # on foot where a walking network is loaded (an OA beyond its extent is not measured)
    costs = costs if costs is not None else costs_for(con, points[["x", "y"]].to_numpy(float))
    measured = ~costs.outside[pt]
    covered = np.zeros(len(k))
    reached: list[pd.DataFrame] = []  # (unit, language, provider): a provider within reach of the unit's OAs
    for li in np.unique(lang):
        prov = providers[providers["language"] == lang_codes[li]]
        if prov.empty:
            continue
        idx = np.flatnonzero(lang == li)
        # from each provider, the OAs it reaches (fewer pairs than from each OA, and the same)
        a, oa, _ = costs.pairs(prov[["x", "y"]].to_numpy(float), reach, np.unique(pt[idx]))
        covered[idx] = np.where(np.isin(pt[idx], oa), n[idx], 0.0)
        if len(a):
            row_of_pt = pd.Series(idx, index=pt[idx])  # one row per OA and language
            reached.append(pd.DataFrame({"k": k[row_of_pt[oa].to_numpy()], "lang": li, "asset": a}))
    frame = pd.DataFrame({"k": k, "lang": lang, "speakers": n, "covered": covered, "measured": n * measured})
    out = frame.groupby(["k", "lang"], as_index=False)[["speakers", "covered", "measured"]].sum()
    out = out[out["measured"] > 0]  # a unit wholly beyond the walking network's extent has no figure
    if reached:
        per_unit = (pd.concat(reached, ignore_index=True).drop_duplicates()
                    .groupby(["k", "lang"]).size().rename("providers").reset_index())
        out = out.merge(per_unit, on=["k", "lang"], how="left")
    else:
        out["providers"] = 0
    out["providers"] = out["providers"].fillna(0).astype(int)
    out["share"] = out["speakers"] / residents[out["k"].to_numpy()]
    out["language_gap"] = 1.0 - out["covered"] / out["measured"]
    out["rank"] = out.groupby("k")["speakers"].rank(method="first", ascending=False).astype(int)
    out["unit_code"] = unit_codes.to_numpy()[out["k"].to_numpy()]
    out["language"] = lang_codes[out["lang"].to_numpy()]
    out["basis"] = BASIS
    return out[COLUMNS].sort_values(["unit_code", "rank"]).reset_index(drop=True)
