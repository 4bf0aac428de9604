"""Accessibility equals PySAL ``access`` on the same inputs: E2SFCA and catchment counts, to 1e-9."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from access import Access, weights
from access.fca import weighted_catchment
from scipy.spatial.distance import cdist

from assetmap.access import Supply, oa_access, step_weights
from assetmap.analysis import load_inputs
from assetmap.network import CrowFlies
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES

logging.getLogger("access").setLevel(logging.WARNING)


def pysal_cost_table(oa_xy: np.ndarray, supply_xy: np.ndarray, max_cost: float) -> pd.DataFrame:
    d = cdist(oa_xy, supply_xy)
    i, j = np.nonzero(d <= max_cost)
    return pd.DataFrame({"origin": i, "dest": j, "cost": d[i, j]})


def pysal_e2sfca(oa_xy, demand, supply: Supply) -> np.ndarray:
    max_cost = max(settings.e2sfca_bands)
    cost = pysal_cost_table(oa_xy, supply.xy, max_cost)
    a = Access(demand_df=pd.DataFrame({"geoid": np.arange(len(oa_xy)), "demand": demand}),
               demand_index="geoid", demand_value="demand",
               supply_df=pd.DataFrame({"geoid": np.arange(len(supply)), "supply": supply.supply}),
               supply_index="geoid", supply_value="supply",
               cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    res = a.enhanced_two_stage_fca(name="e2sfca", weight_fn=weights.step_fn(settings.e2sfca_bands),
                                   max_cost=max_cost)
    return res.iloc[:, 0].reindex(np.arange(len(oa_xy))).fillna(0.0).to_numpy()


def pysal_counts(oa_xy, supply: Supply, radius: float) -> np.ndarray:
    cost = pysal_cost_table(oa_xy, supply.xy, radius)
    s = pd.DataFrame({"geoid": np.arange(len(supply)), "one": 1.0})
    wc = weighted_catchment(s, cost, radius, cost_source="dest", cost_dest="origin", cost_cost="cost",
                            loc_index="geoid", loc_value="one")
    return wc.reindex(np.arange(len(oa_xy))).fillna(0).to_numpy()


@pytest.mark.parametrize("category", CATEGORIES)
def test_e2sfca_and_catchments_equal_pysal_access_on_the_demo_city(analysed_store, category):
    """As the crow flies (where no network is loaded; the demo's walks are checked in
    tests/test_network.py against networkx and PySAL on the network's cost table)."""
    inputs = load_inputs(analysed_store.con)
    supply = inputs.supplies[category]
    demand = inputs.demand(category)
    assert len(supply) > 50 and demand.sum() > 0
    ref = pysal_e2sfca(inputs.xy, demand, supply)
    stored = oa_access(inputs.xy, demand, supply, costs=CrowFlies(inputs.xy))
    assert set(stored["access_mode"]) == {"crow_flies"}
    # PySAL divides by zero for an asset with no demand in reach (inf); we give it no weight
    finite = np.isfinite(ref)
    assert finite.mean() > 0.95
    assert np.max(np.abs(stored["e2sfca"].to_numpy()[finite] - ref[finite])) < 1e-9
    assert (stored["e2sfca"] > 0).sum() > len(stored) * 0.3  # not trivially zero
    for col, r in zip(("n_800", "n_1600"), settings.catchments_m, strict=False):
        assert np.array_equal(stored[col].to_numpy(), pysal_counts(inputs.xy, supply, r))
    # nearest distance equals the brute-force minimum
    assert np.allclose(stored["nearest_m"], cdist(inputs.xy, supply.xy).min(axis=1), rtol=0, atol=1e-6)


def test_an_asset_with_no_demand_in_reach_gives_nothing_and_breaks_nothing():
    oa = np.array([[0.0, 0.0], [100.0, 0.0], [10_000.0, 0.0]])
    demand = np.array([10.0, 0.0, 5.0])
    sup = Supply(np.array(["a", "b"], dtype=object), np.array([[50.0, 0.0], [10_000.0, 5_000.0]]),
                 np.array([3.0, 7.0]))
    r = oa_access(oa, demand, sup)
    # asset a: 3 places for 10 people in the first band of both OAs
    assert r["e2sfca"].tolist() == pytest.approx([0.3, 0.3, 0.0])
    assert r["nearest_asset_id"].tolist() == ["a", "a", "b"]
    assert np.isfinite(r["e2sfca"]).all()


def test_step_weights_follow_pysal_step_fn():
    fn = weights.step_fn(settings.e2sfca_bands)
    d = np.array([0, 1, 499.999, 500, 500.001, 999, 1000, 1300, 1600, 1600.5, 5000])
    assert step_weights(d, settings.e2sfca_bands).tolist() == [fn(x) for x in d]


def test_a_partial_recompute_gives_the_same_numbers_bit_for_bit():
    rng = np.random.default_rng(5)
    oa = rng.uniform(0, 8000, (2000, 2))
    demand = rng.poisson(30, 2000).astype(float)
    sup = Supply(np.array([f"s{i}" for i in range(60)], dtype=object), rng.uniform(0, 8000, (60, 2)),
                 rng.integers(1, 40, 60).astype(float))
    full = oa_access(oa, demand, sup)
    some = rng.choice(2000, 150, replace=False)
    part = oa_access(oa, demand, sup, some)
    for col in ("e2sfca", "nearest_m", "n_800", "n_1600"):
        assert np.array_equal(part[col].to_numpy(), full[col].to_numpy()[some])


def test_ward_access_is_demand_weighted(analysed_store):
    """A ward's figures are its OAs' figures weighted by their residents in need."""
    row = analysed_store.con.execute(
        """SELECT w.unit_code, w.e2sfca, w.share_within_800,
                  sum(o.e2sfca * o.demand) / sum(o.demand),
                  sum((o.n_800 > 0)::INT * o.demand) / sum(o.demand), w.demand, sum(o.demand)
           FROM unit_access w JOIN area_lookup l ON l.parent_code = w.unit_code AND l.parent_level = 'ward'
           JOIN oa_access o ON o.oa_code = l.area_code AND o.category = w.category
           WHERE w.category = 'esol_provider' AND w.unit_level = 'ward'
           GROUP BY w.unit_code, w.e2sfca, w.share_within_800, w.demand""").fetchall()
    assert len(row) == 60
    for _, e2, share, e2_ref, share_ref, dem, dem_ref in row:
        assert e2 == pytest.approx(e2_ref, rel=1e-9) and share == pytest.approx(share_ref, rel=1e-9)
        assert dem == pytest.approx(dem_ref)
    basis = analysed_store.scalar("SELECT any_value(demand_basis) FROM unit_access WHERE category = 'esol_provider'")
    assert basis == "english_proficiency: not_well, cannot"
