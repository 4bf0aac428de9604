"""Segregation indices equal PySAL ``segregation`` on the same inputs, unit by unit, to 1e-9.

The store computes every unit at once; the reference is PySAL's class run on that unit's OAs
alone. Inputs are what the store holds (``load_counts``), so both sides see the same numbers.
"""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from segregation.local import MultiLocationQuotient
from segregation.multigroup import (
    MultiDissim,
    MultiDiversity,
    MultiInfoTheory,
    SimpsonsConcentration,
    SimpsonsInteraction,
)
from segregation.singlegroup import CorrelationR, Dissim, Gini, Interaction, Isolation
from segregation.singlegroup import gini as _pysal_gini

from assetmap import segregation as seg
from assetmap.analysis import load_counts, recompute, unit_map
from assetmap.vocab import ETHNIC_GROUP, focal_groups
from tests.conftest import real_data
from tests.test_realdata import load_city

TOL = 1e-9
# PySAL's Gini is a numba function compiled on first use (17 s on 2 cores, in every test process);
# kept compiled on disk, the second process and the slow phase load it in half a second
_pysal_gini._gini_vecp.enable_caching()
TWO = {"dissimilarity": Dissim, "isolation": Isolation, "exposure": Interaction,
       "correlation_ratio": CorrelationR, "gini": Gini}
MULTI = {"theil_h": MultiInfoTheory, "multigroup_dissimilarity": MultiDissim,
         "simpson_interaction": SimpsonsInteraction, "simpson_concentration": SimpsonsConcentration,
         "entropy": MultiDiversity}


def pysal_unit(frame: pd.DataFrame, focal: dict[str, list[str]], groups: list[str]) -> dict[tuple[str, str], float]:
    """Every index of one unit from PySAL, keyed (focal_group, index_name)."""
    out = {}
    df = frame.copy()
    df["_total"] = df[groups].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, members in focal.items():
            df["_x"] = df[members].sum(axis=1)
            for index_name, cls in TWO.items():
                out[(name, index_name)] = float(cls(df, "_x", "_total").statistic)
        # PySAL takes 0 * log(0) as NaN; the groups absent from the unit contribute nothing
        present = [g for g in groups if df[g].sum() > 0]
        for index_name, cls in MULTI.items():
            out[("all", index_name)] = float(cls(df, present).statistic)
    return out


def assert_matches(ours: pd.DataFrame, counts: pd.DataFrame, umap: pd.Series,
                   focal: dict[str, list[str]], every: int = 1) -> int:
    """Compare every (unit, focal, index) defined by PySAL with our value; return how many.
    ``every``: only each ``every``-th unit in code order (PySAL's per-unit loop is the slow part)."""
    groups = list(counts.columns)
    ours = ours.set_index(["unit_code", "focal_group", "index_name"])["value"]
    n = 0
    worst = 0.0
    for i, (code, frame) in enumerate(counts.groupby(umap.reindex(counts.index).to_numpy())):
        if i % every:
            continue
        for (fg, index_name), ref in pysal_unit(frame, focal, groups).items():
            got = ours.get((code, fg, index_name))
            if fg != "all" and frame[focal[fg]].to_numpy().sum() == 0:
                # no one of the focal group lives in the unit: PySAL's nansum gives isolation and
                # exposure 0 here, D and Gini NaN; we store NaN for all (undefined, not zero)
                assert got is None or not np.isfinite(got), (code, fg, index_name, got)
                continue
            if not np.isfinite(ref):
                assert got is None or not np.isfinite(got), (code, fg, index_name, got)
                continue
            assert got is not None and np.isfinite(got), (code, fg, index_name, ref)
            worst = max(worst, abs(got - ref))
            n += 1
    assert worst < TOL, worst
    return n


def test_every_index_of_every_demo_ward_equals_pysal(analysed_store):
    counts = load_counts(analysed_store.con, ETHNIC_GROUP)
    umap = unit_map(analysed_store.con, "ward")
    ours = analysed_store.con.execute("SELECT * FROM unit_indices WHERE unit_level = 'ward'").df()
    focal = focal_groups(counts.columns)
    assert len(focal) == 19 + 5  # every 2021 category and each high-level aggregate
    # every fourth ward, each index of each of the 24 focal groups (PySAL's per-unit loop is about
    # 2 s a ward on 2 cores; the same code computes every ward, and Birmingham's and the nation's
    # units are checked below)
    n = assert_matches(ours, counts, umap, focal, every=4)
    assert n >= 15 * (24 * 5 + 5) * 0.95


def test_location_quotients_equal_pysal_within_the_local_authority(analysed_store):
    counts = load_counts(analysed_store.con, ETHNIC_GROUP)
    umap = unit_map(analysed_store.con, "ward")
    wards = counts.groupby(umap.reindex(counts.index).to_numpy()).sum()
    groups = list(wards.columns)
    ref = MultiLocationQuotient(wards, groups).statistics  # one LA: every ward is in it
    ours = analysed_store.con.execute(
        "SELECT unit_code, focal_group, value FROM unit_indices WHERE index_name = 'location_quotient'"
    ).df().pivot(index="unit_code", columns="focal_group", values="value")
    ref = pd.DataFrame(np.asarray(ref), index=wards.index, columns=groups)
    cats = [g for g in groups if g != "unlisted"]
    assert np.nanmax(np.abs(ours.loc[wards.index, cats].to_numpy() - ref[cats].to_numpy())) < TOL
    # an aggregate's quotient is its members' sum over the authority's share of them
    asian = [c for c in cats if c.startswith("asian_")]
    share = wards[asian].sum(axis=1) / wards.sum(axis=1)
    want = share / (wards[asian].to_numpy().sum() / wards.to_numpy().sum())
    assert np.allclose(ours.loc[wards.index, "asian_all"], want, rtol=0, atol=TOL)


def test_reliability_flags_small_units_and_small_groups(full_store, monkeypatch):
    from assetmap.settings import settings

    monkeypatch.setattr(settings, "min_oas", 1000)
    recompute(full_store)
    assert full_store.scalar("SELECT count(*) FROM unit_indices WHERE index_name = 'dissimilarity' "
                             "AND reliable") == 0
    monkeypatch.setattr(settings, "min_oas", 5)
    monkeypatch.setattr(settings, "min_focal", 200)
    recompute(full_store)
    small = full_store.con.execute(
        """SELECT count(*) FILTER (WHERE reliable), count(*) FROM unit_indices w
           JOIN (SELECT l.parent_code AS ward, p.category, sum(p.count) AS n FROM population p
                 JOIN area_lookup l ON l.area_code = p.area_code AND l.parent_level = 'ward'
                 WHERE p.variable = 'ethnic_group' GROUP BY ALL) g
             ON g.ward = w.unit_code AND g.category = w.focal_group
           WHERE w.index_name = 'dissimilarity' AND g.n < 200""").fetchone()
    assert small[1] > 0 and small[0] == 0


def test_bootstrap_intervals_cover_d_and_narrow_with_more_people():
    rng = np.random.default_rng(7)
    n = 400
    lab = rng.integers(0, 8, n)
    t = rng.integers(80, 300, n).astype(float)
    p = np.clip(rng.beta(2, 5, n) + 0.05 * lab, 0, 1)
    x = rng.binomial(t.astype(int), p).astype(float)
    units = seg.Units.from_labels(lab)
    d = seg.dissimilarity(x, t, units)
    lo, hi = seg.bootstrap_dissimilarity(x, t, units, n_boot=300, seed=1)
    assert np.all(lo < hi)
    # resampling noise inflates D, so D sits inside or just under the interval
    assert np.all(d <= hi)
    lo2, hi2 = seg.bootstrap_dissimilarity(x * 50, t * 50, units, n_boot=300, seed=1)
    assert np.all((hi2 - lo2) < (hi - lo))
    again = seg.bootstrap_dissimilarity(x, t, units, n_boot=300, seed=1)
    assert np.array_equal(again[0], lo) and np.array_equal(again[1], hi)


def test_recompute_with_bootstrap_stores_intervals(full_store):
    recompute(full_store, n_boot=50)
    row = full_store.con.execute(
        "SELECT count(*), count(ci_low), count(*) FILTER (WHERE ci_low <= ci_high) FROM unit_indices "
        "WHERE index_name = 'dissimilarity' AND value IS NOT NULL").fetchone()
    assert row[0] == row[1] == row[2] > 0
    assert full_store.scalar("SELECT count(ci_low) FROM unit_indices WHERE index_name = 'gini'") == 0


# -- properties --------------------------------------------------------------------------------

counts_st = st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=2, max_size=40)


@hsettings(max_examples=60, deadline=None)
@given(counts_st, st.integers(1, 50))
def test_d_is_zero_when_every_oa_has_the_same_mix(rows, scale):
    a, b = rows[0]
    if a + b == 0 or a == 0 or b == 0:
        return
    k = np.arange(1, len(rows) + 1)
    x, t = (a * k * scale).astype(float), ((a + b) * k * scale).astype(float)
    units = seg.Units.from_labels(np.zeros(len(k)))
    assert abs(seg.dissimilarity(x, t, units)[0]) < 1e-12
    assert abs(seg.gini(x, t, units)[0]) < 1e-12
    assert abs(seg.correlation_ratio(x, t, units)[0]) < 1e-12
    c = np.c_[x, t - x]
    assert abs(seg.theil_h(c, units)[0]) < 1e-12
    assert abs(seg.multigroup_dissimilarity(c, units)[0]) < 1e-12


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=1, max_size=20),
       st.lists(st.integers(1, 1000), min_size=1, max_size=20))
def test_d_is_one_under_complete_separation(focal_only, others_only):
    x = np.array(focal_only + [0] * len(others_only), dtype=float)
    t = np.array(focal_only + others_only, dtype=float)
    units = seg.Units.from_labels(np.zeros(len(t)))
    assert abs(seg.dissimilarity(x, t, units)[0] - 1) < 1e-12
    assert abs(seg.gini(x, t, units)[0] - 1) < 1e-12
    assert abs(seg.isolation(x, t, units)[0] - 1) < 1e-12
    assert abs(seg.exposure(x, t, units)[0]) < 1e-12
    assert abs(seg.theil_h(np.c_[x, t - x], units)[0] - 1) < 1e-12


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300)), min_size=2,
                max_size=30), st.integers(2, 1000), st.integers(1, 4))
def test_indices_do_not_change_when_all_counts_are_scaled(rows, factor, n_units):
    c = np.array(rows, dtype=float)
    lab = np.arange(len(c)) % n_units
    units = seg.Units.from_labels(lab)
    x, t = c[:, 0], c.sum(axis=1)
    for fn in seg.TWO_GROUP.values():
        a, b = fn(x, t, units), fn(x * factor, t * factor, units)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
    for fn in seg.MULTIGROUP.values():
        a, b = fn(c, units), fn(c * factor, units)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_units_are_independent_of_each_other():
    """Computing all units at once gives what each unit gives alone."""
    rng = np.random.default_rng(3)
    c = rng.poisson(20, (300, 4)).astype(float)
    lab = rng.integers(0, 12, 300)
    units = seg.Units.from_labels(lab)
    allv = seg.theil_h(c, units)
    for i, code in enumerate(units.codes):
        mine = lab.astype(str) == code
        alone = seg.theil_h(c[mine], seg.Units.from_labels(np.zeros(mine.sum())))
        assert abs(alone[0] - allv[i]) < 1e-12


# -- real data ---------------------------------------------------------------------------------

@pytest.mark.realdata
@pytest.mark.parametrize("level,n_units", [("ward", 40), ("msoa", 132)])
def test_real_birmingham_indices_equal_pysal(tmp_path, store, level, n_units):
    import csv
    import io

    load_city(store, "birmingham")
    oas = {r[0] for r in store.con.execute("SELECT code FROM areas WHERE level = 'oa'").fetchall()}
    with gzip.open(real_data("census2011", "oa_ethnic_group_2011_ew.csv.gz"), "rt", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["OA"] in oas]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path = tmp_path / "birmingham_2011.csv"
    path.write_text(buf.getvalue())
    from assetmap.ingest import ingest_file

    assert ingest_file(store, path).status == "completed"
    res = recompute(store, level=level)
    assert res.units == n_units
    counts = load_counts(store.con, ETHNIC_GROUP)
    umap = unit_map(store.con, level)
    ours = store.con.execute("SELECT * FROM unit_indices WHERE unit_level = ?", [level]).df()
    assert ours["unit_code"].nunique() == n_units
    focal = focal_groups(counts.columns)
    assert "unlisted" in counts.columns and "unlisted" not in focal  # 2011's 15 groups, residual kept
    # every other ward; every sixth of the 132 MSOAs (PySAL's loop takes about 1.5 s a unit on 2
    # cores): the same code computes both levels, and half the nation's 348 authorities follow
    assert_matches(ours, counts, umap, focal, every=2 if level == "ward" else 6)


@pytest.mark.realdata
def test_every_local_authority_of_the_national_census_equals_pysal():
    """The 348 local authorities of England and Wales computed at once, OAs as the units inside
    each; every other one in code order (174, from a few hundred OAs to a few thousand) checked
    against PySAL's classes, one authority at a time."""
    path = real_data("census2011", "oa_ethnic_group_2011_ew.csv.gz")
    df = pd.read_csv(path)
    groups = ["WhiteBrit", "Irish", "OtherWhite", "Mixed", "Indian", "Pakistani", "Bangladeshi",
              "Chinese", "OtherAsian", "BlkAfrican", "BlkCaribbean", "OtherBlk", "Arab", "Other"]
    df["Unlisted"] = df["Persons"] - df[groups].sum(axis=1)
    groups = [*groups, "Unlisted"]
    units = seg.Units.from_labels(df["LAD"].to_numpy())
    assert units.n == 348
    c = df[groups].to_numpy(float)
    t = c.sum(axis=1)
    focal = {"WhiteBrit": ["WhiteBrit"], "Pakistani": ["Pakistani"], "BlkAfrican": ["BlkAfrican"]}
    ours = seg.compute_all(df[groups], units, focal).set_index(["unit_code", "focal_group", "index_name"])["value"]
    worst = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (code, frame) in enumerate(df.groupby("LAD")):
            if i % 2:
                continue
            frame = frame.assign(_total=frame[groups].sum(axis=1))
            for name, (col,) in focal.items():
                for index_name, cls in TWO.items():
                    ref = cls(frame, col, "_total").statistic
                    worst = max(worst, abs(ours[(code, name, index_name)] - ref))
            present = [g for g in groups if frame[g].sum() > 0]
            for index_name, cls in MULTI.items():
                worst = max(worst, abs(ours[(code, "all", index_name)] - cls(frame, present).statistic))
    assert worst < TOL
    assert np.isfinite(t).all()
