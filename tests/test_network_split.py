"""Many authorities on one network: each is measured on its own part (its extent and a buffer),
and every walk up to the buffer equals the whole network's (and so networkx's Dijkstra's)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import shapely

from assetmap.analysis import load_inputs, recompute
from assetmap.db.store import Store
from assetmap.network import Walking, costs_for, load_engine
from assetmap.network.split import PerAuthority, authority_of, part_engine
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES
from tests.network_reference import Reference

EAST = "E06999999"


def cut_in_two(store) -> str:
    """Cut the demo's one authority in two at the median output area's easting: the west keeps
    its code, the east becomes ``EAST``. Returns the west's code."""
    code, wkb = store.con.execute("SELECT code, ST_AsWKB(geom) FROM areas WHERE level = 'la'").fetchone()
    poly = shapely.from_wkb(bytes(wkb))
    x = float(store.scalar("SELECT median(ST_X(ST_PointOnSurface(geom))) FROM areas WHERE level = 'oa'"))
    x0, y0, x1, y1 = poly.bounds
    west, east = poly.intersection(shapely.box(x0, y0, x, y1)), poly.intersection(shapely.box(x, y0, x1, y1))
    store.con.execute("UPDATE areas SET geom = ST_GeomFromWKB(?) WHERE code = ?", [shapely.to_wkb(west), code])
    store.con.execute("INSERT INTO areas (code, name, level, geom, source) VALUES (?, 'East Demoford (test)', 'la', "
                      "ST_GeomFromWKB(?), 'test')", [EAST, shapely.to_wkb(east)])
    return code


@pytest.fixture
def split_store(full_store):
    cut_in_two(full_store)
    return full_store


def test_each_authority_is_routed_on_its_own_part_and_every_walk_within_the_buffer_is_the_whole_networks(
        split_store, monkeypatch):
    con = split_store.con
    inputs = load_inputs(con)
    assert isinstance(inputs.costs, PerAuthority)
    split = inputs.costs
    # a part's engine is built when a question first concerns it (an incremental recompute asks few)
    assert split.walks == [None, None]
    split.nearest(split.parts[0].oas[:5], inputs.supplies["esol_provider"].xy)
    assert split.walks[0] is not None and split.walks[1] is None
    whole = Walking(load_engine(con), inputs.xy)
    la, _ = authority_of(con, inputs.xy)
    assert set(la) == {p.code for p in split.parts} and len(split.parts) == 2
    # each part is a part: fewer nodes than the whole network, and together they cover every OA once
    for part in split.parts:
        assert part_engine(con, part).nodes < 0.8 * whole.engine.nodes
    assert sorted(np.concatenate([p.oas for p in split.parts]).tolist()) == list(range(len(inputs.xy)))
    assert np.array_equal(split.outside, whole.outside)
    reach = max(max(settings.catchments_m), max(settings.e2sfca_bands))
    for cat in CATEGORIES:
        xy = inputs.supplies[cat].xy
        a1, o1, c1 = split.pairs(xy, reach)
        a2, o2, c2 = whole.pairs(xy, reach)
        assert np.array_equal(a1, a2) and np.array_equal(o1, o2), cat
        assert np.max(np.abs(c1 - c2)) < 1e-6
        oas = np.arange(len(inputs.xy))
        n1, j1 = split.nearest(oas, xy)
        n2, j2 = whole.nearest(oas, xy)
        near = n2 <= settings.network_buffer_m
        assert np.array_equal(j1[near], j2[near]) and np.max(np.abs(n1[near] - n2[near])) < 1e-6, cat
        # beyond the buffer the authority's own part gives an upper bound of the whole network's walk
        far = ~near & ~np.isnan(n2)
        assert (n1[far] >= n2[far] - 1e-6).all()
        # (and on the demo, cut down the middle, the part holds the whole network's walk: here
        # walks up to 6 km from 15-40 % of the OAs)
        assert far.any() and np.mean(np.abs(n1[far] - n2[far]) > 1e-6) < 0.01
        found = j2 >= 0
        assert np.max(np.abs(split.route_m(oas[found & near], xy[j2[found & near]])
                             - whole.route_m(oas[found & near], xy[j2[found & near]]))) < 1e-6
        assert np.array_equal(split.off_network(xy), whole.off_network(xy))
    # the split can be turned off: the whole network, routed as one
    monkeypatch.setattr(settings, "network_split", False)
    assert isinstance(costs_for(con, inputs.xy), Walking)


def test_a_recompute_split_by_authority_equals_networkx_within_the_buffer(split_store):
    recompute(split_store)
    inputs = load_inputs(split_store.con)
    ref = Reference(split_store.con, inputs.xy)
    speed = settings.walk_m_per_min
    reach = max(max(settings.catchments_m), max(settings.e2sfca_bands))
    for cat in ("esol_provider", "place_of_worship"):
        on = ref.add_assets(inputs.supplies[cat].xy)
        stored = split_store.con.execute("SELECT nearest_min, n_800, n_1600 FROM oa_access WHERE category = ? "
                                         "ORDER BY oa_code", [cat]).df()
        want = ref.nearest(on)
        got = stored["nearest_min"].to_numpy(float) * speed
        near = want <= settings.network_buffer_m
        assert np.max(np.abs(got[near] - want[near])) < 1e-6, cat
        pairs = ref.within(on, reach)
        origin = np.array([i for (_, i) in pairs], dtype=np.int64)
        cost = np.array(list(pairs.values()))
        for col, r in zip(("n_800", "n_1600"), settings.catchments_m, strict=False):
            assert np.array_equal(stored[col].to_numpy(), np.bincount(origin[cost <= r], minlength=len(inputs.xy)))


def test_a_recompute_whose_authorities_are_answered_by_other_processes_equals_one_routed_here(
        split_store, tmp_path):
    from assetmap.network import parts
    from tests.test_gaps import assert_same_results

    split_store.con.execute("CHECKPOINT")
    shutil.copy(split_store.path, tmp_path / "other.duckdb")
    other = Store(tmp_path / "other.duckdb")
    try:
        recompute(split_store)
        asked: list[str] = []

        def runner(jobs):  # each job in a fresh engine built from the files alone, as a worker does
            for job in jobs:
                asked.append(job.code)
                parts.answer(parts.job_from(job.as_dict()))

        before = parts.fallbacks
        recompute(other, runner=runner)
        assert sorted(asked) == sorted({p.code for p in load_inputs(other.con).costs.parts})
        assert parts.fallbacks == before  # every walk the recompute asked for came from the answers
        assert_same_results(split_store, other)
        langs = "SELECT * EXCLUDE (computed_at) FROM unit_languages ORDER BY unit_code, language"
        theirs = other.con.execute(langs).df()
        assert len(theirs) > 100 and theirs.equals(split_store.con.execute(langs).df())
        # the parts' networks are kept: a second run writes only a new question if anything changed
        nets = sorted((tmp_path / "network-parts").glob("*/network.npz"))
        assert len(nets) == 2
        # nothing changed: the parts' networks and answers are kept, and no authority is asked again
        stamp = [p.stat().st_mtime_ns for p in nets]
        asked.clear()
        recompute(other, runner=runner)
        assert [p.stat().st_mtime_ns for p in nets] == stamp and asked == []
        assert_same_results(split_store, other)
        # a provider of the east moved: only the east is asked again, and the result is a full recompute's
        east = next(p for p in load_inputs(other.con).costs.parts if p.code == EAST)
        far_east = east.box[0] + 2 * settings.network_buffer_m + 500  # beyond the west's part
        for s in (split_store, other):
            s.con.execute("UPDATE assets SET geom = ST_Point(ST_X(geom) + 150, ST_Y(geom)) WHERE asset_id = "
                          "(SELECT min(asset_id) FROM assets WHERE ST_X(geom) > ? AND category = 'esol_provider')",
                          [far_east])
        recompute(split_store)
        recompute(other, runner=runner)
        assert asked == [EAST]
        assert_same_results(split_store, other)
        assert len(list((tmp_path / "network-parts").glob("*/q-*"))) == 2  # the old east question gone
    finally:
        other.close()


def test_an_authority_the_network_does_not_reach_is_measured_as_the_crow_flies_and_says_so(split_store):
    con = split_store.con
    inputs = load_inputs(con)
    east = next(p for p in inputs.costs.parts if p.code == EAST)
    # streets only west of the eastern authority's part: it holds none
    con.execute("DELETE FROM network_edges WHERE from_node IN (SELECT node_id FROM network_nodes WHERE x >= ?) "
                "OR to_node IN (SELECT node_id FROM network_nodes WHERE x >= ?)", [east.box[0], east.box[0]])
    con.execute("DELETE FROM network_nodes WHERE x >= ?", [east.box[0]])
    con.execute("UPDATE network_info SET nodes = (SELECT count(*) FROM network_nodes)")
    res = recompute(split_store)
    assert any(f"measured as the crow flies: {EAST}" in n for n in res.notes), res.notes
    rows = con.execute("SELECT oa_code, access_mode, nearest_m, crow_m, nearest_min, n_800 FROM oa_access "
                       "WHERE category = 'esol_provider' ORDER BY oa_code").df()
    inputs = load_inputs(con)
    in_east = np.isin(np.arange(len(inputs.xy)), east.oas)
    assert set(rows["access_mode"][in_east]) == {"crow_flies"}
    west = rows["access_mode"][~in_east]
    assert set(west) <= {"network", "outside"} and (west == "network").any()
    e = rows[in_east]
    assert np.allclose(e["nearest_m"], e["crow_m"]) and e["nearest_min"].isna().all()
    # counted as the crow flies, against a brute-force count
    xy = inputs.supplies["esol_provider"].xy
    d = np.hypot(inputs.xy[east.oas, None, 0] - xy[None, :, 0], inputs.xy[east.oas, None, 1] - xy[None, :, 1])
    assert np.array_equal(e["n_800"].to_numpy(), (d <= 800).sum(axis=1))
    units = con.execute("SELECT DISTINCT access_mode FROM unit_access WHERE unit_level = 'ward'").fetchall()
    assert {u[0] for u in units} == {"network", "crow_flies"}


def test_a_walking_area_is_drawn_on_its_authoritys_part_and_reaches_what_the_whole_network_does(split_store):
    from assetmap import queries
    from assetmap.network.reach import walking_area
    from assetmap.network.split import engine_near

    con = split_store.con
    asset_id, x, y = con.execute("SELECT asset_id, ST_X(geom), ST_Y(geom) FROM assets WHERE NOT sensitive "
                                 "AND category = 'community_centre' ORDER BY asset_id LIMIT 1").fetchone()
    part = engine_near(con, x, y)
    whole = load_engine(con)
    assert part.nodes < 0.8 * whole.nodes  # the authority's part, not the whole network
    got = queries.walking_area(con, asset_id)
    want = walking_area(whole, x, y, (10, 20))
    assert got["nodes"] == want.nodes and got["nodes"][20] > got["nodes"][10] > 0


def test_supply_by_bus_walks_to_each_stop_on_its_own_authoritys_part(split_store, monkeypatch):
    from assetmap.transit.journeys import WalkAndBus

    monkeypatch.setattr(settings, "supply_by_bus", True)
    inputs = load_inputs(split_store.con)
    assert isinstance(inputs.costs, WalkAndBus) and isinstance(inputs.costs.base, PerAuthority)
    assert isinstance(inputs.costs.stop_costs, PerAuthority)
    # the stops walked to on the streets: the same walks as from the whole network within the buffer
    whole = Walking(load_engine(split_store.con), inputs.costs.stop_xy, oa_snap_m=settings.network_snap_m)
    xy = inputs.supplies["esol_provider"].xy
    a1, s1, c1 = inputs.costs.stop_costs.pairs(xy, settings.bus_walk_m)
    a2, s2, c2 = whole.pairs(xy, settings.bus_walk_m)
    assert len(a1) > 0 and np.array_equal(a1, a2) and np.array_equal(s1, s2) and np.max(np.abs(c1 - c2)) < 1e-6
    assert recompute(split_store).oas == len(inputs.xy)


def test_status_says_access_is_measured_an_authority_at_a_time(split_store, capsys):
    from assetmap.cli import main

    path = split_store.path
    split_store.close()
    assert main(["status", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "an authority at a time (2 authorities, each with 2,000 m around it)" in out
