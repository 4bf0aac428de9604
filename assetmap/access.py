"""Accessibility of each category of asset from each output area, and per unit.

Distances run from each OA's representative point (its point on surface, EPSG:27700) to the
assets, measured through one interface (:class:`assetmap.network.cost.Costs`): on foot along the
street network where one is loaded, otherwise as the crow flies. Every row says which
(``access_mode``). Neither provider looks at all pairs: straight-line neighbours come from a
``scipy.spatial.cKDTree``, and the network is asked only for those that can qualify.

Measures, per OA and category:

- ``nearest_m``: distance to the nearest asset (and which one); on the network also
  ``nearest_min``, the walk in minutes, and ``crow_m``, the straight line to the same asset;
- ``n_800``, ``n_1600``: assets within the walking catchments (``settings.catchments_m``: 10
  and 20 minutes' walk at 4.8 km/h);
- ``e2sfca``: the enhanced two-step floating catchment area score of Luo and Qi (2009). Step
  1: each asset's supply over the distance-weighted demand around it,
  ``R_j = S_j / sum_i W(d_ij) D_i``; step 2: ``A_i = sum_j W(d_ij) R_j``. ``W`` is the step
  function of ``settings.e2sfca_bands`` (weight of the first band whose bound is >= d; 0
  beyond the last). Supply ``S_j`` is the asset's capacity, or 1. Equals PySAL ``access``
  ``enhanced_two_stage_fca`` on the same cost table, except that an asset with no demand in
  reach has ``R_j = 0`` (PySAL divides by zero and gives inf).

Reference: Luo, W. and Qi, Y. (2009). An enhanced two-step floating catchment area (E2SFCA)
method for measuring spatial accessibility to primary care physicians. *Health & Place* 15(4),
1100-1107.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from assetmap.network.cost import CROW_FLIES, NETWORK, Costs, CrowFlies, modes_of, straight_pairs
from assetmap.settings import settings

#: The access mode of an OA beyond a loaded network's extent: it gets no figure.
OUTSIDE = "outside"

#: Columns of the counts within the first and second walking catchment. They carry the default
#: distances in their names; with other ``settings.catchments_m`` they count those instead.
_COUNT_COLS = ("n_800", "n_1600")


@dataclass
class Supply:
    """The assets of one category: ids, coordinates (EPSG:27700) and supply (capacity or 1)."""

    asset_id: np.ndarray
    xy: np.ndarray
    supply: np.ndarray

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Supply:
        """Return the supply of the assets in ``df`` (``asset_id, x, y, supply`` columns)."""
        df = df.sort_values("asset_id", kind="stable")
        return cls(df["asset_id"].to_numpy(dtype=object), df[["x", "y"]].to_numpy(dtype=float),
                   df["supply"].to_numpy(dtype=float))

    def __len__(self) -> int:
        """Return the number of assets."""
        return len(self.asset_id)


def step_weights(d: np.ndarray, bands: dict[float, float]) -> np.ndarray:
    """Weight of each distance: the weight of the first band whose upper bound is >= d, else 0.

    The same rule as PySAL ``access.weights.step_fn``.
    """
    bounds = np.array(sorted(bands), dtype=float)
    w = np.array([bands[b] for b in sorted(bands)] + [0.0])
    return w[np.searchsorted(bounds, d, side="left")]


def pairs_within(src_xy: np.ndarray, dst_tree: cKDTree, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every (source, destination, distance) pair no farther apart than ``radius``.

    All (source, destination, straight-line distance) pairs no farther apart than ``radius``, ordered by source,
    then destination (see :func:`assetmap.network.cost.straight_pairs`).
    """
    return straight_pairs(src_xy, dst_tree.data, radius, dst_tree)


def walk_cost(nearest_m: np.ndarray, nearest_min: np.ndarray, access_mode: np.ndarray) -> np.ndarray:
    """Return the cost to the nearest asset as stored rows hold it.

    On the network the walk as metres of effort (its minutes at the walking speed, never less than the straight
    line), otherwise the straight line (``nearest_m``).
    """
    on_foot = np.asarray(access_mode, dtype=object) == NETWORK
    return np.where(on_foot, np.asarray(nearest_min, dtype=float) * settings.walk_m_per_min,
                    np.asarray(nearest_m, dtype=float))


def e2sfca(
    supply_index: np.ndarray, demand_index: np.ndarray, d: np.ndarray, demand: np.ndarray,
    supply: np.ndarray, bands: dict[float, float], target_pos: np.ndarray | None = None,
    n_targets: int | None = None,
) -> np.ndarray:
    """Return the two steps of E2SFCA over (supply, demand, distance) pairs ordered by supply.

    Step 1: ``R_j = S_j / sum_i W(d_ij) D_i`` (0 where no demand is in reach); step 2:
    ``A_i = sum_j W(d_ij) R_j`` for every demand location, or only for those with
    ``target_pos[i] >= 0`` (returned in target order).
    """
    w = step_weights(d, bands)
    wdem = np.bincount(supply_index, weights=w * demand[demand_index], minlength=len(supply))
    R = np.divide(supply, wdem, out=np.zeros(len(supply)), where=wdem > 0)
    if target_pos is None:
        return np.bincount(demand_index, weights=w * R[supply_index], minlength=len(demand))
    tgt = target_pos[demand_index]
    keep = tgt >= 0
    return np.bincount(tgt[keep], weights=(w * R[supply_index])[keep], minlength=n_targets or 0)


def oa_access(
    oa_xy: np.ndarray,
    demand: np.ndarray,
    supply: Supply,
    targets: np.ndarray | None = None,
    *,
    catchments: tuple[float, ...] | None = None,
    bands: dict[float, float] | None = None,
    oa_tree: cKDTree | None = None,
    costs: Costs | None = None,
) -> pd.DataFrame:
    """Return the accessibility measures for the OAs ``targets`` (indices into ``oa_xy``; default all).

    Parameters
    ----------
    oa_xy, demand
        Every OA's point and its demand: step 1 of E2SFCA needs all the demand around an
        asset, whichever OAs are being computed.
    supply
        The assets of the category.
    targets
        The OAs to compute (a partial recompute); the result for an OA does not depend on
        which others are computed with it.
    costs
        How far is measured (:mod:`assetmap.network.cost`): on foot along the network, or as the
        crow flies (the default).

    Returns
    -------
    pandas.DataFrame
        One row per target: ``oa_index, nearest_m, nearest_asset_id, n_800, n_1600, e2sfca,
        nearest_min, crow_m, access_mode``. On the network ``nearest_m`` is the route's length
        and ``nearest_min`` the walk; ``crow_m`` is the straight line to the same asset. An OA
        beyond the network's extent has ``access_mode = 'outside'`` and no figure.
    """
    catchments = tuple(catchments or settings.catchments_m)
    bands = bands or settings.e2sfca_bands
    costs = costs if costs is not None else CrowFlies(oa_xy, oa_tree)
    targets = np.arange(len(oa_xy)) if targets is None else np.asarray(targets, dtype=np.int64)
    out = pd.DataFrame({"oa_index": targets})
    mode = np.where(costs.outside[targets], OUTSIDE, modes_of(costs, len(oa_xy))[targets]) if len(targets) \
        else np.empty(0, dtype=object)
    out["nearest_m"] = np.nan
    out["nearest_asset_id"] = None
    for name in _COUNT_COLS:
        out[name] = 0
    out["e2sfca"] = 0.0
    out["nearest_min"] = np.nan
    out["crow_m"] = np.nan
    out["access_mode"] = mode
    if len(supply) == 0 or len(targets) == 0:
        return out
    cost, j = costs.nearest(targets, supply.xy)
    found = j >= 0
    jf = j[found]
    crow = np.hypot(*(oa_xy[targets[found]] - supply.xy[jf]).T)
    out.loc[found, "nearest_asset_id"] = supply.asset_id[jf]
    out.loc[found, "crow_m"] = crow
    if costs.mode == CROW_FLIES:
        out.loc[found, "nearest_m"] = cost[found]
    else:
        out.loc[found, "nearest_m"] = costs.route_m(targets[found], supply.xy[jf])
        # minutes on foot, where walked (not in an authority the network does not reach)
        out.loc[found, "nearest_min"] = np.where(mode[found] == NETWORK, cost[found] / settings.walk_m_per_min,
                                                 np.nan)

    reach = max(max(catchments), max(bands))
    full = len(targets) == len(oa_xy)
    # the pairs within reach of the targets: counts, and which assets step 1 needs
    js, oi, dd = costs.pairs(supply.xy, reach, None if full else targets)
    pos = np.full(len(oa_xy), -1, dtype=np.int64)
    pos[targets] = np.arange(len(targets))
    for name, r in zip(_COUNT_COLS, catchments, strict=False):
        inside = dd <= r
        out[name] = np.bincount(pos[oi[inside]], minlength=len(targets)).astype(np.int64)
    if not full:  # step 1 needs all the demand around the assets that reach a target
        rel = np.unique(js[dd <= max(bands)])
        sj, si, sd = costs.pairs(supply.xy[rel], max(bands))
        out["e2sfca"] = e2sfca(sj, si, sd, demand, supply.supply[rel], bands, pos, len(targets))
    else:
        keep = dd <= max(bands)
        out["e2sfca"] = e2sfca(js[keep], oi[keep], dd[keep], demand, supply.supply, bands, pos, len(targets))
    return out


def aggregate(oa_rows: pd.DataFrame, unit_of: pd.Series) -> pd.DataFrame:
    """Unit-level accessibility from OA rows of one category.

    Distances, catchment shares and E2SFCA are averages weighted by the OAs' demand (by
    population where a unit has no demand), so a unit's figure describes its residents in
    need, not its land. ``unit_of`` maps oa_code -> unit code.

    Returns
    -------
    pandas.DataFrame
        ``unit_code, population, demand, nearest_m, share_within_800, share_within_1600,
        mean_n_1600, e2sfca, nearest_min, crow_m, access_mode`` (catchment columns follow
        ``settings.catchments_m``). OAs beyond a network's extent count in ``population`` and
        ``demand`` but in no average; a unit all of whose OAs lie beyond it is ``outside``.
    """
    df = oa_rows.assign(unit_code=oa_rows["oa_code"].map(unit_of))
    df = df[df["unit_code"].notna()].sort_values(["unit_code", "oa_code"], kind="stable")
    codes, idx = np.unique(df["unit_code"].to_numpy(dtype=str), return_inverse=True)
    n = len(codes)
    mode = (df["access_mode"].to_numpy(dtype=object) if "access_mode" in df
            else np.full(len(df), CROW_FLIES, dtype=object))
    measured = mode != OUTSIDE  # an OA beyond the network's extent has no figure to average
    pop = np.bincount(idx, weights=df["population"].to_numpy(float), minlength=n)
    dem = np.bincount(idx, weights=df["demand"].to_numpy(float), minlength=n)
    use_pop = dem[idx] <= 0
    w = np.where(use_pop, df["population"].to_numpy(float), df["demand"].to_numpy(float)) * measured
    wsum = np.bincount(idx, weights=w, minlength=n)

    def wmean(v: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(v)
        num = np.bincount(idx[ok], weights=(w * v)[ok], minlength=n)
        den = np.bincount(idx[ok], weights=w[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    out = pd.DataFrame({"unit_code": codes, "population": pop, "demand": dem,
                        "nearest_m": wmean(df["nearest_m"].to_numpy(float))})
    for name in _COUNT_COLS:
        out[name.replace("n_", "share_within_")] = wmean((df[name].to_numpy(float) > 0).astype(float))
    out["mean_n_1600"] = wmean(df["n_1600"].to_numpy(float))
    out["e2sfca"] = wmean(df["e2sfca"].to_numpy(float))
    out.loc[wsum <= 0, ["share_within_800", "share_within_1600", "mean_n_1600", "e2sfca"]] = np.nan
    for name in ("nearest_min", "crow_m"):
        out[name] = wmean(df[name].to_numpy(float)) if name in df else np.nan
    # a unit is measured on the network if any of its OAs is; beyond its extent if all are
    on_net = np.bincount(idx, weights=(mode == NETWORK).astype(float), minlength=n) > 0
    some = np.bincount(idx, weights=measured.astype(float), minlength=n) > 0
    out["access_mode"] = np.where(on_net, NETWORK, np.where(some, CROW_FLIES, OUTSIDE))
    return out
