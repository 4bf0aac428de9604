"""Need, supply and the provision gap of each unit, with the components that explain it.

For a unit (ward by default) and a category of asset:

- **need** is a weighted sum of documented components (``settings.need_weights``), each scaled
  to its percentile among the units so that they are comparable:

  ========== ==========================================================================
  esol_need  share of residents who cannot speak English well or at all (TS029 / QS205)
  born_abroad share of residents born outside the UK (TS004 / KS204)
  diversity  Shannon entropy of the ethnic mix over its maximum, ``ln K``
  segregation Theil's H across the unit's OAs (how unevenly the groups are spread in it)
  ========== ==========================================================================

  Components whose data is not loaded are left out and the others' weights rescaled to 1.
- **supply** is ``capacity`` (the demand-weighted E2SFCA score over the target in
  ``settings.provision_target``, capped at 1) and ``reach`` (the share of the unit's demand
  within the first walking catchment of an asset), weighted by ``settings.supply_weights``.
- **gap** = need - supply, in [-1, 1]. It is exactly the sum of the contributions listed in
  ``components``: ``weight * scaled`` for each need component and ``-weight * value`` for each
  supply component. The rank is 1 for the largest gap of a category.

Flags (recomputed over all units each time): ``high_need_low_provision`` (need in the top
quarter, supply in the bottom quarter), ``no_provision_within_reach`` (residents in need and
no asset within the second catchment of any of them), ``well_served`` (supply in the top
quarter). Strengths list what is there: assets in the unit, their capacity, and reach.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from assetmap.settings import settings

SUPPLY_COMPONENTS = ("capacity", "reach")
FLAGS = ("high_need_low_provision", "no_provision_within_reach", "well_served")


def scale_components(raw: pd.DataFrame) -> pd.DataFrame:
    """Percentile of each raw component among the units (average rank / count, in (0, 1]).

    ``raw`` is indexed by unit code with one column per component; NaN stays NaN.
    """
    return raw.rank(method="average", pct=True)


def score(
    need: pd.DataFrame,
    access: pd.DataFrame,
    category: str,
) -> pd.DataFrame:
    """Need, supply, gap and components for every unit of one category.

    Parameters
    ----------
    need
        Long form ``unit_code, component, raw, scaled`` (from the ``unit_need`` table).
    access
        The category's ``unit_access`` rows.

    Returns
    -------
    pandas.DataFrame
        ``unit_code, category, need, supply, gap, components, strengths`` (JSON strings).
    """
    weights = settings.need_weights.get(category, {})
    target = settings.provision_target.get(category, 1.0)
    sw = settings.supply_weights
    acc = access.sort_values("unit_code").reset_index(drop=True)
    codes = acc["unit_code"].to_numpy()
    wide_raw = need.pivot(index="unit_code", columns="component", values="raw").reindex(codes)
    wide = need.pivot(index="unit_code", columns="component", values="scaled").reindex(codes)
    names = [k for k in weights if k in wide.columns]
    scaled = wide[names].to_numpy(float) if names else np.empty((len(codes), 0))
    raw = wide_raw[names].to_numpy(float) if names else np.empty((len(codes), 0))
    w = np.array([weights[k] for k in names], dtype=float)
    present = ~np.isnan(scaled)
    wsum = (present * w).sum(axis=1)
    wk = np.where(present, w[None, :] / np.where(wsum > 0, wsum, 1)[:, None], 0.0)
    contrib = np.where(present, wk * np.nan_to_num(scaled), 0.0)
    e2 = acc["e2sfca"].fillna(0.0).to_numpy(float)
    reach = acc["share_within_800"].fillna(0.0).to_numpy(float)
    sup = {"capacity": (e2, np.minimum(1.0, e2 / target)), "reach": (reach, reach)}
    # the columns as arrays once: a DataFrame lookup per unit costs seconds nationally
    n_assets = acc["assets_in_unit"].to_numpy(dtype=np.int64)
    capacity = acc["capacity_in_unit"].to_numpy(dtype=float)
    within = {c: acc[c].to_numpy(dtype=float, na_value=np.nan) for c in ("share_within_800", "share_within_1600",
                                                                         "nearest_m")}
    rows = []
    for r in range(len(codes)):
        comps: list[dict[str, Any]] = [
            {"component": k, "kind": "need", "raw": float(raw[r, c]), "scaled": float(scaled[r, c]),
             "weight": float(wk[r, c]), "contribution": float(contrib[r, c])}
            for c, k in enumerate(names) if present[r, c]]
        comps += [{"component": k, "kind": "supply", "raw": float(sup[k][0][r]),
                   "scaled": float(sup[k][1][r]), "weight": float(sw[k]),
                   "contribution": -float(sw[k] * sup[k][1][r])} for k in SUPPLY_COMPONENTS]
        need_v = float(sum(c["contribution"] for c in comps if c["kind"] == "need"))
        supply_v = -float(sum(c["contribution"] for c in comps if c["kind"] == "supply"))
        gap = float(sum(c["contribution"] for c in comps))
        strengths = {
            "assets_in_unit": int(n_assets[r]),
            "capacity_in_unit": float(capacity[r]),
            "share_within_800": _opt(within["share_within_800"][r]),
            "share_within_1600": _opt(within["share_within_1600"][r]),
            "nearest_m": _opt(within["nearest_m"][r]),
        }
        rows.append((codes[r], category, need_v, supply_v, gap, json.dumps(comps), json.dumps(strengths)))
    return pd.DataFrame(rows, columns=["unit_code", "category", "need", "supply", "gap",
                                       "components", "strengths"])


def _opt(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def rank_and_flag(gaps: pd.DataFrame, access: pd.DataFrame) -> pd.DataFrame:
    """Rank (1 = largest gap) and flags of every unit of one category.

    Over all units of the category at once, because both depend on the others.
    Returns ``unit_code, rank, flags`` (flags as a JSON list).
    """
    g = gaps.merge(access[["unit_code", "demand", "share_within_1600"]], on="unit_code", how="left")
    rank = g["gap"].rank(method="min", ascending=False).astype(int)
    need, supply = g["need"].to_numpy(float), g["supply"].to_numpy(float)
    reach = g["share_within_1600"].to_numpy(float)
    high_low = (need >= np.quantile(need, 0.75)) & (supply <= np.quantile(supply, 0.25))
    unreached = (g["demand"].to_numpy(float) > 0) & (np.isnan(reach) | (reach == 0))
    served = (supply >= np.quantile(supply, 0.75)) & (supply > 0)
    code = high_low * 1 + unreached * 2 + served * 4
    text = {k: json.dumps([f for bit, f in zip((1, 2, 4), FLAGS, strict=False) if k & bit]) for k in range(8)}
    return pd.DataFrame({"unit_code": g["unit_code"], "rank": rank, "flags": [text[k] for k in code]})


def need_raw(
    english: pd.DataFrame | None,
    birth: pd.DataFrame | None,
    entropy: pd.Series | None,
    n_groups: int,
    theil: pd.Series | None,
) -> pd.DataFrame:
    """Return the raw need components per unit.

    ``english`` and ``birth`` are unit x category counts of TS029 and TS004 (None when not
    loaded); ``entropy`` and ``theil`` are the units' indices; ``n_groups`` the number of
    ethnic categories, for normalising entropy.
    """
    parts = {}
    if english is not None and not english.empty:
        tot = english.sum(axis=1) - english.get("unlisted", 0)
        need = english.reindex(columns=list(settings.demand["esol_provider"][1]), fill_value=0).sum(axis=1)
        parts["esol_need"] = (need / tot.where(tot > 0)).astype(float)
    if birth is not None and not birth.empty:
        tot = birth.sum(axis=1) - birth.get("unlisted", 0)
        uk = birth.get("uk", 0)
        parts["born_abroad"] = ((tot - uk) / tot.where(tot > 0)).astype(float)
    if entropy is not None and n_groups > 1:
        parts["diversity"] = entropy / np.log(n_groups)
    if theil is not None:
        parts["segregation"] = theil
    return pd.DataFrame(parts)
