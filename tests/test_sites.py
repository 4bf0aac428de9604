"""What-if siting (nothing written) and suggested sites (MCLP through spopt)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from assetmap.db.store import DATA_TABLES, RESULT_TABLES
from assetmap.sites import Site, coverage_problem, site_from_lat_lon, suggest_sites, what_if
from tests.conftest import digest


def test_what_if_an_esol_class_opens_in_the_worst_ward(analysed_store):
    code = analysed_store.scalar("SELECT unit_code FROM unit_gaps WHERE category = 'esol_provider' AND rank = 1")
    x, y = analysed_store.con.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM areas WHERE code = ?)", [code]).fetchone()
    before = digest(analysed_store, DATA_TABLES + RESULT_TABLES)
    df = what_if(analysed_store, add=[Site(x, y, "esol_provider", capacity=40)])
    assert digest(analysed_store, DATA_TABLES + RESULT_TABLES) == before  # nothing written
    row = df[df["unit_code"] == code].iloc[0]
    assert row["delta"] < 0 and row["gap_after"] < row["gap_before"]
    assert row["rank_before"] == 1 and row["rank_after"] > 1
    assert set(df["category"]) == {"esol_provider"}
    assert (df["delta"] <= 1e-12).all()  # more provision never widens a gap
    assert df["delta"].abs().is_monotonic_decreasing


def test_what_if_matches_doing_it_for_real(analysed_store, tmp_path):
    """The in-memory what-if equals ingesting the asset and recomputing."""
    from assetmap.analysis import recompute_affected
    from assetmap.ingest import ingest_file

    lat, lon = 52.78, -1.25
    site = site_from_lat_lon(analysed_store.con, lat, lon, "esol_provider", 25)
    df = what_if(analysed_store, add=[site])
    assert not df.empty
    csv = tmp_path / "new_class.csv"
    csv.write_text(f"name,category,lat,lon,capacity\nNew class,esol_provider,{lat},{lon},25\n")
    r = ingest_file(analysed_store, csv)
    assert r.status == "completed" and r.rows_accepted == 1
    recompute_affected(analysed_store, r.affected_wards)
    after = dict(analysed_store.con.execute(
        "SELECT unit_code, gap FROM unit_gaps WHERE category = 'esol_provider' AND unit_level = 'ward'").fetchall())
    for rec in df.itertuples():
        assert after[rec.unit_code] == pytest.approx(rec.gap_after, abs=1e-12)


def test_what_if_a_centre_closes(analysed_store):
    aid = analysed_store.scalar(
        "SELECT asset_id FROM assets WHERE category = 'community_centre' ORDER BY asset_id LIMIT 1")
    df = what_if(analysed_store, remove=[aid])
    assert not df.empty and (df["delta"] >= -1e-12).all()
    with pytest.raises(ValueError, match="no such assets"):
        what_if(analysed_store, remove=["nope"])
    with pytest.raises(ValueError, match="unknown category"):
        Site(0, 0, "pub")


def test_suggested_sites_are_optimal_on_a_small_instance(analysed_store):
    """spopt's MCLP optimum equals a brute-force search over every pair of candidates."""
    radius = 800.0
    cost, weights, cand, _, _ = coverage_problem(analysed_store, "esol_provider", max_candidates=14, radius=radius)
    assert len(cand) == 14
    cover = cost <= radius
    best = max(weights[cover[:, list(pair)].any(axis=1)].sum() for pair in itertools.combinations(range(14), 2))
    df = suggest_sites(analysed_store, "esol_provider", 2, max_candidates=14, radius=radius)
    assert df.attrs["total"] == pytest.approx(best)
    assert len(df) == 2 and df["covered_demand"].is_monotonic_decreasing
    assert df["unit_code"].str.startswith("E059").all()


def test_suggested_sites_cover_unmet_need(analysed_store):
    df = suggest_sites(analysed_store, "esol_provider", 3)
    assert len(df) == 3 and df.attrs["total"] > 0
    assert df["covered_demand"].sum() == pytest.approx(df.attrs["total"])
    # each site is an OA point with no ESOL class within the radius
    near = analysed_store.con.execute(
        "SELECT oa_code, nearest_m FROM oa_access WHERE category = 'esol_provider' AND list_contains(?, oa_code)",
        [df["oa_code"].tolist()]).fetchall()
    assert len(near) == 3
    assert np.all(np.isfinite([n for _, n in near]))
    assert (df["lat"].between(52, 54) & df["lon"].between(-2, -0.5)).all()


def test_suggested_sites_reach_as_people_walk(analysed_store):
    """On the demo's streets the coverage is a walk: every cost within the radius equals
    networkx's Dijkstra from the candidate's point, and no walk within it is missed."""
    from tests.network_reference import Reference

    radius = 800.0
    cost, _, cand, dem, inputs = coverage_problem(analysed_store, "esol_provider", max_candidates=40,
                                                  radius=radius)
    ref = Reference(analysed_store.con, inputs.xy)
    want = {(j, oa): c for (j, oa), c in ref.within(ref.add_assets(inputs.xy[cand]), radius).items()
            if oa in set(dem.tolist())}
    row = {int(oa): r for r, oa in enumerate(dem)}
    got = {(j, int(oa)): cost[row[int(oa)], j] for oa in dem for j in range(len(cand))
           if cost[row[int(oa)], j] <= radius}
    assert len(got) > 50 and got.keys() == want.keys()
    assert max(abs(got[k] - want[k]) for k in got) < 1e-6
