"""The analysis tables: indices, need, accessibility and gaps per unit.

Pure computation over what :mod:`assetmap.analysis.inputs` reads, calling the analysis modules
(:mod:`assetmap.segregation`, :mod:`assetmap.access`, :mod:`assetmap.gaps`); the full and the
incremental recompute and what-if all build their rows here, and :mod:`assetmap.db.results`
writes them.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd

from assetmap import access as acc
from assetmap import gaps as gapmod
from assetmap import segregation as seg
from assetmap import vocab
from assetmap.analysis.inputs import Census, Inputs
from assetmap.analysis.units import region_of_units, unit_map
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES


def compute_indices(con: duckdb.DuckDBPyConnection, level: str, census: Census | None = None,
                    n_boot: int = 0) -> pd.DataFrame:
    """Every segregation index of every unit at ``level`` (long form, ``unit_indices`` columns)."""
    census = census or Census(con)
    umap = unit_map(con, level)
    counts = census.within(vocab.ETHNIC_GROUP, umap.index)
    if counts.empty or umap.empty:
        return pd.DataFrame()
    units = seg.Units.from_labels(umap.reindex(counts.index).to_numpy())
    focal = vocab.focal_groups(counts.columns)
    out = seg.compute_all(counts, units, focal, min_oas=settings.min_oas,
                          min_focal=settings.min_focal, n_boot=n_boot)
    # location quotients of each focal group in each unit, relative to its local authority
    arr = counts.to_numpy(float)
    unit_counts = units.sum(arr)
    col = {c: i for i, c in enumerate(counts.columns)}
    fcounts = np.column_stack([unit_counts[:, [col[m] for m in ms]].sum(axis=1) for ms in focal.values()])
    region = region_of_units(con, umap, level).reindex(units.codes)
    regions = seg.Units.from_labels(region.to_numpy())
    lq = seg.location_quotient(fcounts, regions, totals=unit_counts.sum(axis=1))
    n_oas = units.count()
    lq_frame = pd.DataFrame({
        "unit_code": np.repeat(units.codes, len(focal)),
        "focal_group": np.tile(list(focal), units.n),
        "index_name": "location_quotient",
        "value": lq.ravel(), "ci_low": np.nan, "ci_high": np.nan,
        "reliable": (np.isfinite(lq) & (unit_counts.sum(axis=1) >= settings.min_focal)[:, None]
                     & (n_oas >= settings.min_oas)[:, None]).ravel(),
        "n_oas": np.repeat(n_oas, len(focal)),
    })
    out = pd.concat([out, lq_frame], ignore_index=True)
    out["value"] = out["value"].where(np.isfinite(out["value"]))
    return out


def _unit_counts(census: Census, variable: str, umap: pd.Series) -> pd.DataFrame | None:
    c = census.within(variable, umap.index)
    if c.empty:
        return None
    return c.groupby(umap.reindex(c.index).to_numpy()).sum()


def compute_need(con: duckdb.DuckDBPyConnection, level: str, indices: pd.DataFrame,
                 census: Census | None = None) -> pd.DataFrame:
    """Raw and scaled need components per unit (long form, ``unit_need`` columns)."""
    census = census or Census(con)
    umap = unit_map(con, level)
    english = _unit_counts(census, vocab.ENGLISH_PROFICIENCY, umap)
    birth = _unit_counts(census, vocab.COUNTRY_OF_BIRTH, umap)
    eth = census.counts(vocab.ETHNIC_GROUP)
    n_groups = len([c for c in eth.columns if c != vocab.UNLISTED]) if not eth.empty else 0
    entropy = theil = None
    if not indices.empty:
        multi = indices[indices["focal_group"] == seg.ALL_GROUPS].set_index(["index_name", "unit_code"])["value"]
        entropy = multi.loc["entropy"] if "entropy" in multi.index.get_level_values(0) else None
        theil = multi.loc["theil_h"] if "theil_h" in multi.index.get_level_values(0) else None
    raw = gapmod.need_raw(english, birth, entropy, n_groups, theil)
    if raw.empty:
        return pd.DataFrame(columns=["unit_code", "component", "raw", "scaled"])
    raw = raw.reindex(sorted(set(umap.values)))
    scaled = gapmod.scale_components(raw)
    long = raw.stack(future_stack=True).rename("raw").to_frame().join(
        scaled.stack(future_stack=True).rename("scaled"))
    long.index.names = ["unit_code", "component"]
    return long.reset_index()


def oa_rows(inputs: Inputs, category: str, targets: np.ndarray | None = None) -> pd.DataFrame:
    """``oa_access`` rows of ``category`` for every OA (or the ``targets``, indices into ``inputs.oas``)."""
    r = acc.oa_access(inputs.xy, inputs.demand(category), inputs.supplies[category], targets,
                      oa_tree=inputs.tree, costs=inputs.costs)
    idx = r["oa_index"].to_numpy()
    return pd.DataFrame({
        "oa_code": inputs.oas["oa_code"].to_numpy()[idx], "category": category,
        "population": inputs.oas["population"].to_numpy()[idx],
        "demand": inputs.demand(category)[idx],
        "nearest_m": r["nearest_m"].to_numpy(), "nearest_asset_id": r["nearest_asset_id"].to_numpy(),
        "n_800": r["n_800"].to_numpy(), "n_1600": r["n_1600"].to_numpy(),
        "e2sfca": r["e2sfca"].to_numpy(), "access_mode": r["access_mode"].to_numpy(),
        "nearest_min": r["nearest_min"].to_numpy(), "crow_m": r["crow_m"].to_numpy(),
    })


def _asset_units(inputs: Inputs, umap: pd.Series, level: str) -> pd.DataFrame:
    a = inputs.assets
    unit = a["ward_code"] if level == "ward" else a["oa_code"].map(umap)
    g = pd.DataFrame({"unit_code": unit, "category": a["category"], "supply": a["supply"]}).dropna(
        subset=["unit_code"])
    return g.groupby(["unit_code", "category"]).agg(assets_in_unit=("supply", "size"),
                                                     capacity_in_unit=("supply", "sum")).reset_index()


def unit_access(inputs: Inputs, oa_rows: pd.DataFrame, umap: pd.Series, level: str,
                units: Iterable[str] | None = None, categories: Iterable[str] | None = None) -> pd.DataFrame:
    """Return the ``unit_access`` rows of units and categories from their OAs' rows.

    ``unit_access`` rows for the units (all, or those given) and the categories (all, or those given) from their
    OAs' rows.
    """
    counts = _asset_units(inputs, umap, level)
    if units is not None:
        keep = set(units)
        umap = umap[umap.isin(keep)]
    frames = []
    for cat in (CATEGORIES if categories is None else [c for c in CATEGORIES if c in set(categories)]):
        rows = oa_rows[oa_rows["category"] == cat]
        agg = acc.aggregate(rows, umap)
        agg.insert(1, "category", cat)
        agg["demand_basis"] = inputs.basis[cat]
        frames.append(agg)
    out = pd.concat(frames, ignore_index=True)
    out = out.merge(counts, on=["unit_code", "category"], how="left")
    out["assets_in_unit"] = out["assets_in_unit"].fillna(0).astype(int)
    out["capacity_in_unit"] = out["capacity_in_unit"].fillna(0.0)
    out.insert(0, "unit_level", level)
    out["supply_by_bus"] = bool(getattr(inputs.costs, "by_bus", False))
    return out


def unit_gaps(need: pd.DataFrame, access_rows: pd.DataFrame) -> pd.DataFrame:
    """``unit_gaps`` rows (without rank and flags) for the units in ``access_rows``."""
    frames = []
    for cat in CATEGORIES:
        a = access_rows[access_rows["category"] == cat]
        if not a.empty:
            frames.append(gapmod.score(need, a, cat))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def ranked(gaps: pd.DataFrame, access_rows: pd.DataFrame) -> pd.DataFrame:
    """Rank and flags for every unit and category (over all units of each category)."""
    frames = []
    for cat, g in gaps.groupby("category"):
        rf = gapmod.rank_and_flag(g, access_rows[access_rows["category"] == cat])
        rf.insert(1, "category", cat)
        frames.append(rf)
    return pd.concat(frames, ignore_index=True)
