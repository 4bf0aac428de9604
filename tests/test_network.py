"""The walking network: what is walked, what is joined, and distances that equal an independent
Dijkstra (networkx) on the same edges, on the demo city and on Newport's real streets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from access import Access, weights
from access.fca import weighted_catchment
from pyproj import Transformer

from assetmap.access import OUTSIDE
from assetmap.analysis import load_inputs, recompute
from assetmap.db.store import DATA_TABLES
from assetmap.ingest import ingest_file
from assetmap.network import NETWORK, Walking, load_engine
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES
from tests.conftest import digest, real_data
from tests.network_reference import Reference

_TO_LL = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
# a spot inside the demo city (Demoford, synthetic), in British National Grid metres
_X0, _Y0 = 452_000.0, 318_000.0


def _osm(nodes: dict[int, tuple[float, float]], ways: list[tuple[int, list[int], dict[str, str]]],
         places: list[tuple[int, float, float, dict[str, str]]] = (),
         bounds: tuple[float, float, float, float] | None = None) -> bytes:
    """OSM XML from node offsets in metres east and north of (_X0, _Y0); ``bounds`` (offsets
    west, south, east, north) gives the file an extent of its own."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="assetmap tests">']
    if bounds is not None:
        w, s = _TO_LL.transform(_X0 + bounds[0], _Y0 + bounds[1])
        e, n = _TO_LL.transform(_X0 + bounds[2], _Y0 + bounds[3])
        out.append(f'<bounds minlat="{s:.7f}" minlon="{w:.7f}" maxlat="{n:.7f}" maxlon="{e:.7f}"/>')
    for nid, (dx, dy) in {**nodes, **{p[0]: (p[1], p[2]) for p in places}}.items():
        lon, lat = _TO_LL.transform(_X0 + dx, _Y0 + dy)
        tags = next((p[3] for p in places if p[0] == nid), {})
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        out.append(f'<node id="{nid}" lat="{lat:.8f}" lon="{lon:.8f}">{body}</node>')
    for wid, refs, tags in ways:
        out.append(f'<way id="{wid}">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                   + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>")
    out.append("</osm>")
    return "\n".join(out).encode()


#: A road west to east (1-5); a footbridge north to south over it (11-12-13, node 12 right above
#: node 3 but its own node) reached by ramps from node 1 (via 31) and node 5 (via 21); a path with
#: foot=no, a motorway and a private drive that would be short cuts; steps; an island of footway.
_NODES = {1: (0, 0), 2: (100, 0), 3: (200, 0), 4: (300, 0), 5: (400, 0),
          11: (200, -100), 12: (200, 0), 13: (200, 100), 21: (400, 100), 31: (0, -100),
          41: (200, 50), 51: (200, -300), 61: (900, 900), 62: (950, 900), 71: (400, -100), 72: (300, -100)}
_WAYS = [
    (1, [1, 2, 3, 4, 5], {"highway": "residential", "name": "Low Road"}),
    (2, [11, 12, 13], {"highway": "footway", "bridge": "yes", "layer": "1"}),
    (3, [13, 21, 5], {"highway": "footway"}),
    (4, [1, 31, 11], {"highway": "path"}),
    (5, [2, 41, 4], {"highway": "path", "foot": "no"}),
    (6, [1, 51, 5], {"highway": "motorway"}),
    (7, [3, 51], {"highway": "service", "access": "private"}),
    (8, [61, 62], {"highway": "footway"}),
    (9, [5, 71, 72], {"highway": "steps"}),
]
_PLACES = [(901, 210, 110, {"amenity": "place_of_worship", "religion": "christian", "name": "St Test"}),
           (902, 2000, 2000, {"amenity": "community_centre", "name": "Far Hall"})]


@pytest.fixture
def small_network(city_store, tmp_path):
    path = tmp_path / "streets.osm"
    path.write_bytes(_osm(_NODES, _WAYS, _PLACES))
    res = ingest_file(city_store, path)
    assert res.status == "completed", res.message
    return city_store, res


def test_a_bridge_over_a_road_is_not_a_junction(small_network):
    store, _ = small_network
    engine = load_engine(store.con)
    pos = {int(n): i for i, n in enumerate(engine.node_ids)}
    # node 12 stands over node 3, but the walk between them goes round by the ramps
    d = engine.between(np.array([pos[12]]), np.array([pos[3]]), "length")[0]
    assert d == pytest.approx(100 + 200 + 100 + 200, abs=0.05)  # 12-11-31-1-2-3 (or 12-13-21-5-4-3)
    assert not store.scalar("SELECT count(*) FROM network_edges WHERE (from_node, to_node) IN ((3, 12), (12, 3))")


def test_ways_not_for_walking_are_not_walked(small_network):
    store, _ = small_network
    ways = {r[0] for r in store.con.execute("SELECT DISTINCT way_id FROM network_edges").fetchall()}
    assert ways == {1, 2, 3, 4, 9}  # not foot=no (5), the motorway (6), the private drive (7), the island (8)
    info = store.con.execute("SELECT dropped_nodes, dropped_islands, nodes FROM network_info").fetchone()
    assert info[0] == 2 and info[1] == 1  # the two-node footway island, dropped and counted
    assert info[2] == store.scalar("SELECT count(*) FROM network_nodes")


def test_steps_are_walked_slower_and_lengths_are_kept_to_the_millimetre(small_network):
    store, _ = small_network
    rows = store.con.execute("SELECT highway, length_m, walk_m, seconds FROM network_edges").df()
    steps = rows[rows["highway"] == "steps"]
    assert len(steps) == 2
    assert np.allclose(steps["walk_m"], np.round(steps["length_m"] / settings.steps_speed_factor, 3))
    flat = rows[rows["highway"] != "steps"]
    assert (flat["walk_m"] == flat["length_m"]).all()
    assert np.array_equal(rows["length_m"], np.round(rows["length_m"], 3))
    assert np.allclose(rows["seconds"], rows["walk_m"] / (settings.walk_speed_kmh / 3.6), atol=1e-3)


def test_places_in_the_file_are_assets_and_one_far_from_the_streets_is_quarantined(small_network):
    store, res = small_network
    assert res.rows_read == 2 and res.rows_accepted == 1 and res.rows_quarantined == 1
    assert store.scalar("SELECT name FROM assets WHERE source_record_id = 'node/901'") == "St Test"
    reason, message = store.con.execute("SELECT q.reason_code, q.message FROM quarantine q JOIN ingests i "
                                        "USING (ingest_id) WHERE i.kind = 'network'").fetchone()
    assert reason == "off_network" and "from the nearest walkable way" in message


def test_the_same_file_again_changes_nothing(small_network):
    store, res = small_network
    before = digest(store, DATA_TABLES)
    again = ingest_file(store, res.path)
    assert again.status == "unchanged"
    assert digest(store, DATA_TABLES) == before


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x00\x00\x00\x0d\n\tOSMHeader\x18K\x10?\x1aGx\x9cS" + b"\x00" * 40, "unreadable"),
    (b'<?xml version="1.0"?><osm version="0.6"><node id="1" lat="52.7" lon="-1.2"/>', "unreadable"),
    (b'<?xml version="1.0"?>\n<osm version="0.6"><node id="1" lat="52.7" lon="-1.2"/></osm>', "no_network"),
])
def test_a_broken_or_empty_osm_file_is_refused_in_one_line_and_stores_nothing(city_store, tmp_path, data, reason):
    before = digest(city_store, DATA_TABLES)
    path = tmp_path / "bad.osm"
    path.write_bytes(data)
    res = ingest_file(city_store, path)
    assert res.status == "refused" and res.reason_code == reason
    assert "\n" not in res.message and "Traceback" not in res.message
    assert digest(city_store, DATA_TABLES) == before


def test_a_truncated_real_extract_is_refused(city_store, tmp_path):
    pbf = real_data("newport-network", "newport-2023-06-13.osm.pbf").read_bytes()
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(pbf[: len(pbf) // 2])
    before = digest(city_store, DATA_TABLES)
    res = ingest_file(city_store, path)
    assert res.status == "refused" and res.reason_code == "unreadable" and "truncated" in res.message
    assert digest(city_store, DATA_TABLES) == before


# -- distances against networkx ----------------------------------------------------------------

def _check_against_networkx(store, categories, sample_routes: int = 60) -> dict[str, float]:
    """Every stored walk (nearest, counts, E2SFCA via PySAL) equals networkx Dijkstra's."""
    inputs = load_inputs(store.con)
    assert isinstance(inputs.costs, Walking)
    ref = Reference(store.con, inputs.xy)
    assert np.array_equal(ref.outside, inputs.costs.outside)
    speed = settings.walk_m_per_min
    stats = {}
    for cat in categories:
        supply = inputs.supplies[cat]
        on = ref.add_assets(supply.xy)
        stored = store.con.execute(
            "SELECT oa_code, nearest_m, nearest_min, nearest_asset_id, crow_m, n_800, n_1600, e2sfca, access_mode "
            "FROM oa_access WHERE category = ? ORDER BY oa_code", [cat]).df()
        assert list(stored["oa_code"]) == list(inputs.oas["oa_code"])
        # the walk to the nearest provider
        want = ref.nearest(on)
        got = stored["nearest_min"].to_numpy(float) * speed
        assert np.array_equal(np.isnan(got), np.isnan(want))
        assert np.nanmax(np.abs(got - want)) < 1e-6, cat
        # the route's length to that provider, for a sample
        idx = {a: j for j, a in enumerate(supply.asset_id)}
        rng = np.random.default_rng(3)
        live = np.flatnonzero(~np.isnan(want))
        for k in rng.choice(live, min(sample_routes, len(live)), replace=False):
            j = idx[stored["nearest_asset_id"].iloc[k]]
            assert stored["nearest_m"].iloc[k] == pytest.approx(ref.route_m(int(k), j), abs=1e-6)
        # providers within the catchments, and E2SFCA through PySAL given networkx's cost table
        reach = max(max(settings.catchments_m), max(settings.e2sfca_bands))
        pairs = ref.within(on, reach)
        table = pd.DataFrame([(i, j, c) for (j, i), c in pairs.items()], columns=["origin", "dest", "cost"])
        for col, r in zip(("n_800", "n_1600"), settings.catchments_m, strict=False):
            want_n = np.bincount(table.loc[table["cost"] <= r, "origin"], minlength=len(inputs.oas))
            assert np.array_equal(stored[col].to_numpy(), want_n), (cat, col)
        max_cost = max(settings.e2sfca_bands)
        a = Access(demand_df=pd.DataFrame({"geoid": np.arange(len(inputs.oas)), "demand": inputs.demand(cat)}),
                   demand_index="geoid", demand_value="demand",
                   supply_df=pd.DataFrame({"geoid": np.arange(len(supply)), "supply": supply.supply}),
                   supply_index="geoid", supply_value="supply",
                   cost_df=table[table["cost"] <= max_cost], cost_origin="origin", cost_dest="dest", cost_name="cost")
        e2 = a.enhanced_two_stage_fca(name="e2sfca", weight_fn=weights.step_fn(settings.e2sfca_bands),
                                      max_cost=max_cost).iloc[:, 0].reindex(np.arange(len(inputs.oas))).fillna(0.0)
        finite = np.isfinite(e2.to_numpy())
        assert np.max(np.abs(stored["e2sfca"].to_numpy()[finite] - e2.to_numpy()[finite])) < 1e-9, cat
        one = pd.DataFrame({"geoid": np.arange(len(supply)), "one": 1.0})
        wc = weighted_catchment(one, table, settings.catchments_m[0], cost_source="dest", cost_dest="origin",
                                cost_cost="cost", loc_index="geoid", loc_value="one")
        assert np.array_equal(stored["n_800"].to_numpy(), wc.reindex(np.arange(len(inputs.oas))).fillna(0).to_numpy())
        assert set(stored["access_mode"]) <= {NETWORK, OUTSIDE}
        inside = ~np.isnan(want)
        stats[cat] = float(np.median(stored["nearest_m"].to_numpy()[inside] / stored["crow_m"].to_numpy()[inside]))
        assert (stored["nearest_m"].to_numpy()[inside] >= stored["crow_m"].to_numpy()[inside] - 1e-6).all()
    return stats


def test_every_walk_on_the_demo_equals_networkx_dijkstra_and_pysal_access(analysed_store):
    detours = _check_against_networkx(analysed_store, CATEGORIES)
    # the demo's river and gappy streets make walks longer than the straight lines
    assert all(1.1 < d < 2.5 for d in detours.values()), detours


@pytest.mark.realdata
def test_every_walk_in_newport_equals_networkx_dijkstra(store):
    for name in ("wards_2013", "oa_2011"):
        assert ingest_file(store, real_data("newport", f"{name}.geojson")).status == "completed"
    res = ingest_file(store, real_data("newport-network", "newport-2023-06-13.osm.pbf"))
    assert res.status == "completed" and res.rows_accepted > 50
    recompute(store)
    detours = _check_against_networkx(store, ["place_of_worship", "community_centre"])
    assert 1.2 < detours["place_of_worship"] < 1.8
    # Newport's authority is larger than the extract: the OAs beyond it get no walk, and say so
    outside = store.scalar("SELECT count(*) FROM oa_access WHERE category = 'place_of_worship' AND access_mode = ?",
                           [OUTSIDE])
    assert 50 < outside < 300
    assert store.scalar("SELECT count(*) FROM oa_access WHERE access_mode = ? AND nearest_m IS NOT NULL",
                        [OUTSIDE]) == 0


def test_an_incremental_recompute_after_a_provider_crosses_the_river_equals_a_full_one(analysed_store, demo_dir,
                                                                                        tmp_path):
    import csv
    import shutil

    from assetmap.analysis import recompute_affected
    from tests.test_gaps import assert_same_results

    store = analysed_store
    # the demo's bridges are its only primary roads: their ends stand either side of the river
    a, b = store.con.execute(
        """SELECT [n1.x, n1.y], [n2.x, n2.y] FROM network_edges e
           JOIN network_nodes n1 ON n1.node_id = e.from_node JOIN network_nodes n2 ON n2.node_id = e.to_node
           WHERE e.highway = 'primary' ORDER BY n1.x LIMIT 1""").fetchone()
    north, south = (a, b) if a[1] > b[1] else (b, a)
    here = np.array([north[0] + 700, north[1] + 120])   # well north of the river, east of the bridge
    there = np.array([south[0] + 700, south[1] - 120])  # straight across it: some 500 m as the crow flies
    engine = load_engine(store.con)
    (n1, n2), _ = engine.snap(np.array([here, there]))
    crow = float(np.hypot(*(here - there)))
    walk = float(engine.between(np.array([n1]), np.array([n2]), "length")[0])
    assert crow < 600 and walk > 1.5 * crow  # across the river: round by a bridge
    to_ll = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    src = demo_dir / "assets/esol_providers.csv"
    with src.open(newline="") as f:
        rows = list(csv.DictReader(f))
    moved = next(r for r in rows if r["lat"] and r["id"].startswith("esol-"))
    for where in (here, there):
        lon, lat = to_ll.transform(*where)
        moved["lat"], moved["lon"] = f"{lat:.7f}", f"{lon:.7f}"
        out = tmp_path / f"{int(where[1])}" / "esol_providers.csv"
        out.parent.mkdir()
        with out.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        r = ingest_file(store, out)
        assert r.status == "completed" and r.assets_changed >= 1
        inc = recompute_affected(store, r.affected_wards)
        assert inc.mode == "incremental" and 0 < inc.oas < 2978 / 2
    store.con.execute("CHECKPOINT")
    shutil.copy(store.path, tmp_path / "full.duckdb")
    from assetmap.db.store import Store

    full = Store(tmp_path / "full.duckdb")
    recompute(full)
    assert_same_results(store, full)
    # across the river the walk is far longer than the straight line for the OAs it left
    walk, crow = store.con.execute(
        "SELECT nearest_m, crow_m FROM oa_access WHERE category = 'esol_provider' AND nearest_asset_id = ? "
        "ORDER BY crow_m DESC LIMIT 1", [store.scalar("SELECT asset_id FROM assets WHERE source_record_id = ?",
                                                       [moved["id"]])]).fetchone()
    assert walk > crow
    full.close()


def test_the_walking_area_of_a_provider_is_what_networkx_reaches(analysed_store):
    import networkx as nx

    from assetmap.network.reach import walking_area
    from tests.network_reference import graph, nearest_node_brute

    store = analysed_store
    x, y = store.con.execute("SELECT ST_X(geom), ST_Y(geom) FROM assets WHERE category = 'esol_provider' "
                             "ORDER BY asset_id LIMIT 1").fetchone()
    area = walking_area(load_engine(store.con), x, y, (10, 20))
    g, ids, xy = graph(store.con)
    (i,), (start,) = nearest_node_brute(xy, np.array([[x, y]]))
    for minutes in (10, 20):
        reach = minutes * settings.walk_m_per_min - start
        want = nx.single_source_dijkstra_path_length(g, int(ids[i]), cutoff=reach, weight="effort")
        assert area.nodes[minutes] == len(want)
    assert 0 < len(area.bands[10]) < len(area.bands[10]) + len(area.bands[20])
    assert area.geojson()["features"][1]["properties"]["minutes"] == 20


def test_output_areas_outside_the_extracts_own_box_get_no_walk(city_store, tmp_path):
    """A clipped extract keeps whole ways that cross its edge: an OA beyond the file's <bounds>
    lies near such a way, but its own streets are not in the file, so it gets no walk."""
    nodes = {k: (dx * 100.0, 0.0) for k, dx in enumerate(range(-20, 21), start=1)}  # a 4 km road, west-east
    ways = [(1, list(nodes), {"highway": "residential"})]
    path = tmp_path / "cut.osm"
    path.write_bytes(_osm(nodes, ways, bounds=(-500, -500, 500, 500)))
    assert ingest_file(city_store, path).status == "completed"
    x0, y0, x1, y1 = city_store.con.execute("SELECT min_x, min_y, max_x, max_y FROM network_info").fetchone()
    assert abs(x0 - (_X0 - 500)) < 20 and abs(y1 - (_Y0 + 500)) < 20  # the <bounds>, in British National Grid
    recompute(city_store)
    rows = city_store.con.execute(
        """SELECT o.access_mode, i.x, i.y FROM oa_access o JOIN oa_inputs i USING (oa_code)
           WHERE o.category = 'community_centre'""").df()
    near_road = (rows["x"].between(_X0 - 2000, _X0 + 2000)) & ((rows["y"] - _Y0).abs() < 300)
    in_box = rows["x"].between(x0, x1) & rows["y"].between(y0, y1)
    assert (rows.loc[near_road & ~in_box, "access_mode"] == OUTSIDE).all() and (near_road & ~in_box).sum() > 3
    assert (rows.loc[near_road & in_box, "access_mode"] == NETWORK).all() and (near_road & in_box).sum() > 0
    assert (rows.loc[~in_box, "access_mode"] == OUTSIDE).all()


@pytest.mark.parametrize("module", ["assetmap.network.osm", "assetmap.network.store", "assetmap.network.cost",
                                    "assetmap.network.reach", "assetmap.sources.osm_network", "assetmap.network"])
def test_each_network_module_imports_first(module):
    """No import cycle between the network and the readers: each module loads on its own."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
