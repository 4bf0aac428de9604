"""What-if siting: the effect of adding or removing assets, and the best new sites.

:func:`what_if` answers "if an ESOL class opened here (or this centre closed), which wards'
gaps would change, and by how much?" by running the incremental recompute in memory: the
store is not written. :func:`suggest_sites` proposes ``k`` sites that cover the most unmet
need, as a maximal covering location problem (Church and ReVelle 1974) solved exactly with
PySAL ``spopt``'s ``MCLP`` and the CBC solver that PuLP ships. Both measure reach as the rest of the
analysis does: on foot along the street network where one is loaded.

Reference: Church, R. and ReVelle, C. (1974). The maximal covering location problem.
*Papers of the Regional Science Association* 32, 101-118.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from assetmap import access as acc
from assetmap.analysis import incremental as inc
from assetmap.analysis.inputs import Inputs, stored_inputs
from assetmap.analysis.tables import ranked
from assetmap.analysis.units import default_level, unit_map, units_of
from assetmap.db.store import Store
from assetmap.queries import siting
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES

log = logging.getLogger(__name__)

#: A change in a gap smaller than this is rounding, not a change.
_UNCHANGED = 1e-12
#: A solved site variable above this is a site chosen (the solver's 0 or 1, as a float).
_CHOSEN = 0.5


@dataclass
class Site:
    """A hypothetical asset: where (EPSG:27700), what, and how much (capacity, default 1)."""

    x: float
    y: float
    category: str
    capacity: float = 1.0

    def __post_init__(self) -> None:
        """Refuse an unknown category."""
        if self.category not in CATEGORIES:
            msg = f"unknown category {self.category!r}; one of {', '.join(CATEGORIES)}"
            raise ValueError(msg)


def site_from_lat_lon(con: duckdb.DuckDBPyConnection, lat: float, lon: float, category: str,
                      capacity: float = 1.0) -> Site:
    """Return a :class:`Site` from WGS84 latitude and longitude."""
    x, y = siting.to_grid(con, lat, lon)
    return Site(x, y, category, capacity)


def what_if(store: Store, add: Iterable[Site] = (), remove: Iterable[str] = (),
            level: str | None = None) -> pd.DataFrame:
    """Return the units whose gap would change if ``add`` opened and ``remove`` closed; nothing written.

    Returns
    -------
    pandas.DataFrame
        ``unit_code, category, gap_before, gap_after, delta, rank_before, rank_after``, largest
        absolute change first.
    """
    con = store.con
    add, remove = list(add), list(remove)
    level = level or default_level(con)
    before = siting.level_gaps(con, level)
    if before.empty:
        msg = f"no gaps computed at {level} level: run `assetmap recompute` first"
        raise ValueError(msg)
    inputs = stored_inputs(con)
    if inputs is None:
        msg = "no accessibility computed (no OA polygons?): what-if needs it"
        raise ValueError(msg)
    assets = inputs.assets
    unknown = sorted(set(remove) - set(assets["asset_id"]))
    if unknown:
        msg = f"no such assets: {', '.join(unknown)}"
        raise ValueError(msg)
    removed = assets[assets["asset_id"].isin(remove)]
    base = dataclasses.replace(inputs, assets=assets.copy(), supplies=dict(inputs.supplies))
    added_rows = []
    for i, s in enumerate(add):
        oa, ward = siting.oa_and_ward_at(con, s.x, s.y)
        added_rows.append({"asset_id": f"what-if-{i + 1}", "category": s.category, "x": s.x, "y": s.y,
                           "oa_code": oa, "ward_code": ward, "supply": float(s.capacity)})
    added = pd.DataFrame(added_rows, columns=assets.columns)
    inputs.assets = pd.concat([assets[~assets["asset_id"].isin(remove)], added], ignore_index=True)
    cats = sorted(set(removed["category"]) | set(added["category"]))
    for cat in cats:
        inputs.supplies[cat] = acc.Supply.from_frame(inputs.assets[inputs.assets["category"] == cat])
    changes = {}
    for cat in cats:
        pts = pd.concat([removed[removed["category"] == cat], added[added["category"] == cat]])[["x", "y"]]
        changes[cat] = (removed["asset_id"].tolist(), inc.oas_in_reach(inputs, pts.to_numpy(float)),
                        added[added["category"] == cat][["x", "y"]].to_numpy(float))
    new = inc.changed_oa_rows(con, inputs, changes)
    if new is None:
        return pd.DataFrame(columns=["unit_code", "category", "gap_before", "gap_after", "delta",
                                     "rank_before", "rank_after"])
    oas = set(new["oa_code"]) | set(pd.concat([removed["oa_code"], added["oa_code"]]).dropna())
    touched = set(units_of(con, level, oas=oas).values)
    access_rows, after = inc.units_after(con, inputs, level, new, touched, cats)
    # the gaps before, computed as those after are (from the stored OA rows): in a public snapshot
    # the stored gaps count sensitive sites (rounded) that its OA rows, by the disclosure rule, do not
    _, same_way = inc.units_after(con, base, level, None, touched, cats)
    if not same_way.empty:
        gap_of = same_way.set_index(["unit_code", "category"])["gap"]
        key = pd.MultiIndex.from_frame(before[["unit_code", "category"]])
        before["gap"] = np.where(key.isin(gap_of.index), gap_of.reindex(key).to_numpy(), before["gap"].to_numpy())
    all_after = pd.concat([before.set_index(["unit_code", "category"]).drop(
        after.set_index(["unit_code", "category"]).index, errors="ignore").reset_index(),
        after[["unit_code", "category", "need", "supply", "gap"]]], ignore_index=True)
    acc_all = siting.level_access(con, level)
    acc_all = pd.concat([acc_all.set_index(["unit_code", "category"]).drop(
        access_rows.set_index(["unit_code", "category"]).index, errors="ignore").reset_index(),
        access_rows[["unit_code", "category", "demand", "share_within_1600"]]], ignore_index=True)
    ranks_after = ranked(all_after[all_after["category"].isin(cats)], acc_all)
    out = after[["unit_code", "category", "gap"]].rename(columns={"gap": "gap_after"}).merge(
        before[["unit_code", "category", "gap", "rank"]].rename(columns={"gap": "gap_before", "rank": "rank_before"}),
        on=["unit_code", "category"], how="left").merge(
        ranks_after[["unit_code", "category", "rank"]].rename(columns={"rank": "rank_after"}),
        on=["unit_code", "category"], how="left")
    out["delta"] = out["gap_after"] - out["gap_before"]
    out = out[out["delta"].abs() > _UNCHANGED]
    out = out.reindex(out["delta"].abs().sort_values(ascending=False).index)
    return out[["unit_code", "category", "gap_before", "gap_after", "delta", "rank_before",
                "rank_after"]].reset_index(drop=True)


def _unmet(inputs: Inputs, stored: pd.DataFrame, category: str, radius: float) -> np.ndarray:
    """Return the demand of each OA with no asset of the category within ``radius``.

    Demand of each OA with no asset of the category within ``radius`` (a walk where the access was measured on
    the network; an OA beyond its extent has none to meet).
    """
    d = inputs.demand(category)
    stored = stored.set_index("oa_code").reindex(inputs.oas["oa_code"])
    near = acc.walk_cost(stored["nearest_m"].to_numpy(), stored["nearest_min"].to_numpy(),
                         stored["access_mode"].to_numpy())
    covered = np.nan_to_num(near, nan=np.inf) <= radius
    return np.where(covered | inputs.costs.outside, 0.0, d)


def coverage_problem(store: Store, category: str, max_candidates: int = 400,
                     radius: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Inputs]:
    """Return the MCLP instance.

    Cost matrix (demand OAs x candidate OAs), weights, candidate indices, demand indices (both into
    ``inputs.oas``).

    Candidates are OA points, the ``max_candidates`` that could cover the most unmet demand
    within ``radius`` (default ``settings.site_radius_m``); demand points are the OAs with
    unmet demand within reach of a candidate. Costs are walks on the network where one is loaded
    (:mod:`assetmap.network.cost`), otherwise straight lines; a pair beyond the radius costs
    more than it.
    """
    con = store.con
    radius = radius or settings.site_radius_m
    inputs = stored_inputs(con)
    if inputs is None:
        msg = "no accessibility computed: run `assetmap recompute` first"
        raise ValueError(msg)
    stored = siting.oa_access(con, category)
    if stored.empty:
        msg = "no accessibility computed: run `assetmap recompute` first"
        raise ValueError(msg)
    unmet = _unmet(inputs, stored, category, radius)
    need_idx = np.flatnonzero(unmet > 0)
    if len(need_idx) == 0:
        return np.empty((0, 0)), np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), inputs
    # potential of every OA point as a site: unmet demand within the radius; candidates are OA
    # points, so a candidate straight-line-near no one in need is not asked about at all
    hits = cKDTree(inputs.xy).query_ball_point(inputs.xy[need_idx], radius)
    sites = np.unique(np.concatenate([np.asarray(h, dtype=np.int64) for h in hits]))
    site_of, oa, d = inputs.costs.pairs(inputs.xy[sites], radius, need_idx)
    potential = np.zeros(len(inputs.xy))
    np.add.at(potential, sites[site_of], unmet[oa])
    order = np.lexsort((inputs.oas["oa_code"].to_numpy(), -potential))
    cand = order[: max_candidates][potential[order[: max_candidates]] > 0]
    if len(cand) == 0:
        return np.empty((0, 0)), np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), inputs
    col = pd.Series(np.arange(len(cand)), index=cand)
    keep = np.isin(sites[site_of], cand)
    dem_idx = np.unique(oa[keep])
    row = pd.Series(np.arange(len(dem_idx)), index=dem_idx)
    cost = np.full((len(dem_idx), len(cand)), 2.0 * radius + 1.0)
    cost[row[oa[keep]].to_numpy(), col[sites[site_of][keep]].to_numpy()] = d[keep]
    return cost, unmet[dem_idx], cand, dem_idx, inputs


def suggest_sites(store: Store, category: str, k: int, max_candidates: int = 400,
                  radius: float | None = None) -> pd.DataFrame:
    """``k`` OA points that together cover the most unmet need (MCLP, solved with spopt + CBC).

    Returns
    -------
    pandas.DataFrame
        ``order, oa_code, unit_code, x, y, lat, lon, covered_demand`` (demand newly within the
        radius of that site and of no site before it in the list), and attribute ``total``.
    """
    import pulp
    from spopt.locate import MCLP

    radius = radius or settings.site_radius_m
    cost, weights, cand, _, inputs = coverage_problem(store, category, max_candidates, radius)
    cols = ["order", "oa_code", "unit_code", "x", "y", "lat", "lon", "covered_demand"]
    if len(cand) == 0:
        return pd.DataFrame(columns=cols)
    k = min(k, len(cand))
    with warnings.catch_warnings():
        # PuLP 3.3 announces API changes of PuLP 4.0 once per variable; spopt 0.7 uses the 3.x API
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulp\..*")
        model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=k,
                                      name=f"mclp-{category}")
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[model.problem.status] != "Optimal":
        msg = f"MCLP not solved: {pulp.LpStatus[model.problem.status]}"
        raise RuntimeError(msg)
    chosen = [j for j in range(len(cand)) if (model.fac_vars[j].value() or 0) > _CHOSEN]
    # order the sites by how much each adds, greedily, so the list reads best-first
    covered = np.zeros(len(weights), dtype=bool)
    rows = []
    remaining = list(chosen)
    umap = unit_map(store.con, "ward")
    while remaining:
        gains = [(weights[(cost[:, j] <= radius) & ~covered].sum(), j) for j in remaining]
        gain, j = max(gains, key=lambda g: (g[0], -g[1]))
        covered |= cost[:, j] <= radius
        remaining.remove(j)
        oa = inputs.oas.iloc[cand[j]]
        rows.append({"oa_code": oa["oa_code"], "unit_code": umap.get(oa["oa_code"]), "x": oa["x"],
                     "y": oa["y"], "covered_demand": float(gain)})
    out = pd.DataFrame(rows)
    lonlat = siting.to_lon_lat(store.con, out["x"].tolist(), out["y"].tolist())
    out["lon"] = [r[0] for r in lonlat]
    out["lat"] = [r[1] for r in lonlat]
    out.insert(0, "order", range(1, len(out) + 1))
    out.attrs["total"] = float(weights[covered].sum())
    return out[cols]
