"""Walking-network benchmarks: Newport's real streets and the demo city's, against references
measured in the same run.

Run: ``python benchmarks/network.py``. Each phase runs in a fresh process. Prints:

- Newport (real OpenStreetMap extract, June 2023; 2011 OAs): reading the PBF into the store, the
  engine's build (pandana contraction hierarchies) and every category's access on foot; target:
  all of it under 10 s on 2 cores. In the same run, every OA-to-place walk (all pairs, places of
  worship and community centres) against networkx's Dijkstra from each place: the largest
  difference (target < 1e-6 m) and the time of each;
- Newport as the crow flies against on foot (the places of worship and community centres
  together): the median detour of the walk to the nearest place over the straight line to the
  nearest, the share of OAs whose nearest place changes, and places within 800 m both ways;
- the demo city (2,978 OAs, 585 assets, 16,635 street nodes): a full recompute with the network
  cached against the same recompute as the crow flies (target: access under 2 s), and an
  incremental recompute after one provider moves (target under 0.5 s).
"""

from __future__ import annotations

import shutil
import sys
import time

from _common import REPO, SHARED, WORK, peak_mb, phase_from_argv, run_phase


def _newport_store(path):
    from assetmap.db.store import Store
    from assetmap.ingest import ingest_file

    store = Store(path)
    for name in ("wards_2013", "oa_2011"):
        r = ingest_file(store, SHARED / "newport" / f"{name}.geojson")
        assert r.status == "completed", r.message
    # who lives there: the national 2011 census file (its Newport OAs are read)
    r = ingest_file(store, SHARED / "census2011" / "oa_ethnic_group_2011_ew.csv.gz")
    assert r.status == "completed", r.message
    return store


def phase_newport() -> dict:
    import numpy as np

    from assetmap.analysis.inputs import load_inputs
    from assetmap.analysis.tables import oa_rows
    from assetmap.ingest import ingest_file
    from assetmap.network import Walking, load_engine
    from assetmap.vocab.categories import CATEGORIES

    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "newport.duckdb"
    db.unlink(missing_ok=True)
    store = _newport_store(db)
    t0 = time.perf_counter()
    r = ingest_file(store, SHARED / "newport-network" / "newport-2023-06-13.osm.pbf")
    assert r.status == "completed", r.message
    t_ingest = time.perf_counter() - t0
    t = time.perf_counter()
    engine = load_engine(store.con)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    inputs = load_inputs(store.con)
    t_inputs = time.perf_counter() - t
    t = time.perf_counter()
    for cat in CATEGORIES:
        oa_rows(inputs, cat)
    t_access = time.perf_counter() - t
    cost = inputs.costs
    assert isinstance(cost, Walking)
    places = inputs.assets[inputs.assets["category"].isin(["place_of_worship", "community_centre"])]
    pxy = places[["x", "y"]].to_numpy(float)
    live = np.flatnonzero(~cost.outside)
    on = np.flatnonzero(~cost.off_network(pxy))
    # every pair, ours: the engine asked once per pair
    t = time.perf_counter()
    a_node, a_conn = engine.snap(pxy[on])
    oa_i = np.repeat(live, len(on))
    ours = cost._cost(oa_i, np.tile(a_node, len(live)), np.tile(a_conn, len(live))).reshape(len(live), len(on))
    t_ours = time.perf_counter() - t
    # every pair, networkx: Dijkstra from each place over the same edges
    sys.path.insert(0, str(REPO))
    from tests.network_reference import Reference

    t = time.perf_counter()
    ref = Reference(store.con, inputs.xy)
    joined = ref.add_assets(pxy[on])
    import networkx as nx

    want = np.full((len(live), len(on)), np.nan)
    pos = {int(k): n for n, k in enumerate(live)}
    for j in np.flatnonzero(joined):
        dist = nx.single_source_dijkstra_path_length(ref.g, ("asset", int(j)), weight="effort")
        for node, d in dist.items():
            if isinstance(node, tuple) and node[0] == "oa" and node[1] in pos:
                want[pos[node[1]], j] = d
    t_nx = time.perf_counter() - t
    max_diff = float(np.nanmax(np.abs(ours - want)))
    # as the crow flies against on foot, to the nearest place
    crow = np.hypot(inputs.xy[live, None, 0] - pxy[None, on, 0], inputs.xy[live, None, 1] - pxy[None, on, 1])
    walk_len = ours  # effort metres: the places' walks have no steps where they differ little
    near_walk, near_crow = walk_len.min(axis=1), crow.min(axis=1)
    changed = float(np.mean(walk_len.argmin(axis=1) != crow.argmin(axis=1)))
    out = {
        "oas": len(inputs.oas), "oas_on_network": len(live), "places": len(pxy), "places_on_network": len(on),
        "nodes": engine.nodes, "ingest_s": t_ingest, "build_s": t_build, "inputs_s": t_inputs,
        "access_all_categories_s": t_access, "total_s": t_ingest + t_build + t_inputs + t_access,
        "pairs": int(ours.size), "ours_all_pairs_s": t_ours, "networkx_all_pairs_s": t_nx, "max_diff_m": max_diff,
        "median_detour": float(np.median(near_walk / near_crow)),
        "p90_detour": float(np.percentile(near_walk / near_crow, 90)),
        "nearest_changes_share": changed,
        "within_800_crow": float((crow <= 800).sum(axis=1).mean()),
        "within_800_walk": float((walk_len <= 800).sum(axis=1).mean()),
        "peak_mb": peak_mb(),
    }
    store.close()
    return out


def _city_db():
    from assetmap.analysis import recompute
    from assetmap.db.store import Store
    from assetmap.demo import generate
    from assetmap.ingest import ingest_paths

    folder = WORK / "city"
    db = WORK / "city.duckdb"
    if not db.exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, scale="city")
        with Store(db) as store:
            for r in ingest_paths(store, [folder]):
                assert r.status == "completed", r.message
            recompute(store)
    return folder, db


def phase_city(mode: str) -> dict:
    import csv

    from pyproj import Transformer

    from assetmap.analysis import recompute, recompute_affected
    from assetmap.analysis.inputs import load_inputs
    from assetmap.analysis.tables import oa_rows
    from assetmap.db.store import Store
    from assetmap.ingest import ingest_file
    from assetmap.network import load_engine
    from assetmap.vocab.categories import CATEGORIES

    folder, db = _city_db()
    work = WORK / f"city-{mode}.duckdb"
    shutil.copy(db, work)
    store = Store(work)
    if mode == "crow_flies":
        with store.transaction() as con:
            for t in ("network_info", "network_edges", "network_nodes"):
                con.execute(f"DELETE FROM {t}")
    from assetmap.network import graph

    graph._cache.clear()  # the build, timed, not the copy _city_db may have built
    t = time.perf_counter()
    engine = load_engine(store.con)
    t_build = time.perf_counter() - t
    recompute(store)  # a first full recompute in this process (and in this mode)
    t = time.perf_counter()
    res = recompute(store)
    t_full = time.perf_counter() - t
    inputs = load_inputs(store.con)
    t = time.perf_counter()
    for cat in CATEGORIES:
        oa_rows(inputs, cat)
    t_access = time.perf_counter() - t
    # one provider moves some 300 m north
    src = folder / "assets" / "esol_providers.csv"
    with src.open(newline="") as f:
        rows = list(csv.DictReader(f))
    moved = next(r for r in rows if r["lat"] and r["id"].startswith("esol-"))
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    to_ll = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    x, y = to_bng.transform(float(moved["lon"]), float(moved["lat"]))
    lon, lat = to_ll.transform(x, y + 300)
    moved["lat"], moved["lon"] = f"{lat:.7f}", f"{lon:.7f}"
    out_csv = WORK / "moved" / "esol_providers.csv"
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = ingest_file(store, out_csv)
    t = time.perf_counter()
    inc = recompute_affected(store, r.affected_wards)
    t_inc = time.perf_counter() - t
    store.close()
    return {"mode": mode, "nodes": engine.nodes if engine else 0, "build_s": t_build, "full_s": t_full,
            "access_s": t_access, "incremental_s": t_inc, "incremental_oas": inc.oas, "oas": res.oas,
            "peak_mb": peak_mb()}


PHASES = {"newport": phase_newport, "city": phase_city}


def main() -> None:
    if not (SHARED / "newport-network").exists():
        print(f"the real data is missing: {SHARED} (../shared/geodata-sources)")
        return
    me = str(REPO / "benchmarks" / "network.py")
    n = run_phase(me, "newport")
    print(f"Newport: {n['oas']} OAs ({n['oas_on_network']} within the extract's streets), {n['places']} places of "
          f"worship and community centres ({n['places_on_network']} on the network), {n['nodes']:,} street nodes")
    print(f"  read and store the PBF {n['ingest_s']:.2f} s + engine build {n['build_s']:.2f} s + inputs "
          f"{n['inputs_s']:.2f} s + every category's access on foot {n['access_all_categories_s']:.2f} s "
          f"= {n['total_s']:.2f} s (target < 10 s)")
    print(f"  all {n['pairs']:,} OA-to-place walks: ours {n['ours_all_pairs_s']:.2f} s, networkx Dijkstra "
          f"{n['networkx_all_pairs_s']:.2f} s ({n['networkx_all_pairs_s'] / n['ours_all_pairs_s']:.0f}x), "
          f"largest difference {n['max_diff_m']:.2e} m (target < 1e-6)")
    print(f"  crow flies against on foot: median detour {n['median_detour']:.2f}x (90th percentile "
          f"{n['p90_detour']:.2f}x); nearest place changes for {n['nearest_changes_share']:.0%} of OAs; places "
          f"within 800 m: {n['within_800_crow']:.1f} as the crow flies, {n['within_800_walk']:.1f} on foot "
          f"({n['within_800_crow'] / n['within_800_walk']:.2f}x)")
    c = run_phase(me, "city", "network")
    s = run_phase(me, "city", "crow_flies")
    print(f"Demo city ({c['oas']:,} OAs, {c['nodes']:,} street nodes; engine build {c['build_s']:.2f} s, once per "
          "network and process):")
    print(f"  full recompute {c['full_s']:.2f} s on foot against {s['full_s']:.2f} s as the crow flies "
          f"({c['full_s'] / s['full_s']:.2f}x); access alone {c['access_s']:.2f} s against {s['access_s']:.2f} s "
          "(target < 2 s)")
    print(f"  incremental after one provider moves: {c['incremental_s']:.3f} s on foot ({c['incremental_oas']} OAs) "
          f"against {s['incremental_s']:.3f} s as the crow flies (target < 0.5 s)")


if __name__ == "__main__":
    if not phase_from_argv(PHASES):
        main()
