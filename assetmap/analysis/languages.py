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

import json
import logging

import duckdb
import numpy as np
import pandas as pd

from assetmap.network import Costs, costs_for
from assetmap.queries import inputs as q
from assetmap.settings import settings
from assetmap.vocab.languages import LANGUAGES, NOT_ESOL, language_slug

log = logging.getLogger(__name__)

PROVIDER_CATEGORIES = ("esol_provider", "refugee_support")
BASIS = "all residents of the main language (proficiency by language is not published at OA)"
COLUMNS = ["unit_code", "language", "speakers", "share", "covered", "language_gap", "providers", "rank", "basis"]


def provider_languages(con: duckdb.DuckDBPyConnection,
                       bounds: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Return each ESOL or refugee-support provider once per language it lists.

    As ``asset_id, language, x, y`` (those within ``bounds``, EPSG:27700, when
    given).
    """
    df = q.provider_languages(con, list(PROVIDER_CATEGORIES), bounds)
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
    """Return the language match of every unit in ``umap`` (oa_code -> unit_code).

    Empty when no main-language table is loaded. ``points`` (``oa_code, x, y``: each OA's point on surface, as
    the full recompute's inputs hold them) saves finding them again, and ``costs`` (made for those points)
    measuring again.
    """
    if not q.has_main_language(con):
        return pd.DataFrame(columns=COLUMNS)
    unit_codes = pd.Index(pd.unique(umap.to_numpy(dtype=object)))
    units = pd.DataFrame({"oa_code": umap.index.to_numpy(dtype=object),
                          "k": unit_codes.get_indexer(umap.to_numpy(dtype=object))})
    skip = [*NOT_ESOL, "unlisted", "other"]
    lang_codes = np.array([c for c in LANGUAGES if c not in skip], dtype=object)  # what the readers store
    # units and languages as numbers, so that millions of rows stay arrays
    points, rows = q.languages_spoken(con, units, points, list(lang_codes))
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
