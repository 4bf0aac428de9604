"""Many authorities' walks on the work pool: two workers against one (issue 23, item 5).

The store: ``--authorities`` (20) neighbouring local authorities of the national-scale demo
(their wards, OAs, census and assets, cut from the national demo store that
``benchmarks/ingest.py`` builds), with a SYNTHETIC street network over all of them
(:mod:`assetmap.network.synthetic`: 80 m blocks, about a city's density of street nodes, a
third of them closed, a river and two bridges). A full recompute then measures each authority
on its own part of the network.

- **In one process** (the reference, in the same run): the recompute routing every part itself.
- **On the pool**: the same recompute handing each authority's walks to a Prefect work pool
  (a real server started by ``assetmap up --pool``), with one ``assetmap worker --limit 1`` and
  then two; the time of the walks (handed over to all answered) and of the whole recompute, and
  the ratio of one worker's to two's (target: at least 1.7x on 2 cores). Every run's tables are
  checked equal to the reference's.

Run: ``.venv/bin/python benchmarks/network_pool.py [--authorities 20]`` (about five minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK

POOL = "assetmap-bench-network"
TARGET = 1.7


def _national() -> Path:
    from benchmarks.analysis import _national_store

    return _national_store()


def build_store(path: Path, n: int, spacing: float) -> dict:
    """``n`` neighbouring authorities of the national demo, with streets over them."""
    import shapely

    from assetmap.db.store import RESULT_TABLES, Store
    from assetmap.ingest import ingest_file
    from assetmap.network.synthetic import write_network

    shutil.copy(_national(), path)
    t0 = time.perf_counter()
    with Store(path) as store:
        con = store.con
        las = con.execute("SELECT code, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)), ST_Area(geom) "
                          "FROM areas WHERE level = 'la' ORDER BY code").fetchall()
        xy = np.array([[r[1], r[2]] for r in las])
        seed = int(np.argmin([r[3] for r in las]))  # around the smallest (a dense, city-like place)
        pick = [las[i][0] for i in np.argsort(np.hypot(*(xy - xy[seed]).T))[:n]]
        con.execute("CREATE TEMP TABLE keep_la AS SELECT unnest(?::VARCHAR[]) AS code", [pick])
        con.execute("""CREATE TEMP TABLE keep_oa AS SELECT area_code AS code FROM area_lookup
                       WHERE parent_level = 'la' AND parent_code IN (SELECT code FROM keep_la)""")
        con.execute("""CREATE TEMP TABLE keep_ward AS SELECT DISTINCT parent_code AS code FROM area_lookup
                       WHERE parent_level = 'ward' AND area_code IN (SELECT code FROM keep_oa)""")
        con.execute("CREATE TEMP TABLE keep AS SELECT code FROM keep_la UNION ALL SELECT code FROM keep_oa "
                    "UNION ALL SELECT code FROM keep_ward")
        con.execute("DELETE FROM population WHERE area_code NOT IN (SELECT code FROM keep)")
        con.execute("DELETE FROM areas WHERE code NOT IN (SELECT code FROM keep)")
        con.execute("DELETE FROM area_lookup WHERE area_code NOT IN (SELECT code FROM keep)")
        con.execute("DELETE FROM assets WHERE oa_code IS NULL OR oa_code NOT IN (SELECT code FROM keep_oa)")
        con.execute("DELETE FROM asset_versions WHERE asset_id NOT IN (SELECT asset_id FROM assets)")
        for t in RESULT_TABLES:
            con.execute(f"DELETE FROM {t}")
        region = shapely.union_all(shapely.from_wkb(
            [bytes(r[0]) for r in con.execute("SELECT ST_AsWKB(geom) FROM areas WHERE level = 'la'").fetchall()]))
        streets = write_network(path.parent / "streets.osm", region, np.random.default_rng(7), spacing=spacing)
        res = ingest_file(store, streets)
        if res.status != "completed":
            raise SystemExit(res.message)
        counts = dict(con.execute("SELECT level, count(*) FROM areas GROUP BY 1").fetchall())
        nodes = con.execute("SELECT count(*) FROM network_nodes").fetchone()[0]
        con.execute("CHECKPOINT")
    return {"authorities": counts.get("la", 0), "wards": counts.get("ward", 0), "oas": counts.get("oa", 0),
            "nodes": nodes, "build_s": time.perf_counter() - t0}


def _results(path: Path) -> dict:
    from assetmap.db.store import Store
    from tests.test_gaps import results

    with Store(path, read_only=True) as s:
        return results(s)


def _same(a: dict, b: dict) -> bool:
    return all(a[t].equals(b[t]) for t in a)


def _part_runs(seen: set) -> list[tuple]:
    """The parts' runs not seen before: (id, start after the first, seconds, worker)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from pipelines.flows import PARTS_TAG

    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[PARTS_TAG])), limit=200) if r.id not in seen]
    if not runs:
        return []
    first = min(r.start_time for r in runs if r.start_time)
    return sorted((r.id, (r.start_time - first).total_seconds() if r.start_time else float("nan"),
                   r.total_run_time.total_seconds(), r.infrastructure_pid or "") for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--authorities", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    ap.add_argument("--spacing", type=float, default=80.0, help="the synthetic streets' block, in metres")
    args = ap.parse_args()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from assetmap.analysis import recompute
    from assetmap.db.store import Store
    from assetmap.network import parts
    from pipelines.flows import _run_parts
    from tests.conftest import running_up
    from tests.servers import assetmap_workers

    work = Path(tempfile.mkdtemp(prefix="assetmap-bench-network-pool-", dir=WORK if WORK.exists() else None))
    template = work / "template.duckdb"
    print(f"building {args.authorities} authorities with streets in {work} ...", flush=True)
    info = build_store(template, args.authorities, args.spacing)
    print(f"  {info['authorities']} authorities, {info['wards']:,} wards, {info['oas']:,} OAs, "
          f"{info['nodes']:,} street nodes (built in {info['build_s']:.0f} s)", flush=True)

    ref_db = work / "reference" / "assetmap.duckdb"
    ref_db.parent.mkdir()
    shutil.copy(template, ref_db)
    t0 = time.perf_counter()
    with Store(ref_db) as s:
        res = recompute(s, n_boot=0)
    ref_s = time.perf_counter() - t0
    reference = _results(ref_db)
    print(f"\n[in one process] full recompute {ref_s:.1f} s ({res.oas:,} OAs)", flush=True)

    timings: dict[int, tuple[float, float]] = {}
    env = {"ASSETMAP_BOOTSTRAP": "0"}
    with running_up(work, template, "--pool", POOL, "--workers", "0", "--no-dashboard", env_extra=env) as up, \
            temporary_settings({PREFECT_API_URL: up["api"]}):
        db = up["db"]
        worker_env = {**os.environ, **env, "ASSETMAP_DB": str(db), "ASSETMAP_INBOX": str(up["inbox"])}
        seen: set = set()
        for n in (1, 2):
            names = [f"n{n}-w{i}" for i in range(1, n + 1)]
            with assetmap_workers(work, up["api"], worker_env, names, POOL, limit=1):
                # each run from nothing: the parts' networks written again, every walk asked again
                shutil.rmtree(db.parent / "network-parts", ignore_errors=True)
                walks: list[float] = []

                def runner(jobs: list, walks: list[float] = walks) -> None:
                    t = time.perf_counter()
                    _run_parts(jobs)
                    walks.append(time.perf_counter() - t)

                before = parts.fallbacks
                t0 = time.perf_counter()
                with Store(db) as s:
                    recompute(s, n_boot=0, runner=runner)
                total = time.perf_counter() - t0
                ok = _same(reference, _results(db)) and parts.fallbacks == before
                timings[n] = (walks[0], total)
                runs = _part_runs(seen)
                seen |= {r[0] for r in runs}
                print(f"[{n} worker{'s' if n > 1 else ''}] walks {walks[0]:.1f} s, full recompute {total:.1f} s; "
                      f"tables equal the reference's and every walk answered by the pool: {ok}", flush=True)
                print("  runs (start s after the first, seconds, worker): " + "; ".join(
                    f"{r[1]:.1f} +{r[2]:.1f} {r[3]}" for r in runs), flush=True)
                if not ok:
                    return 1
    w = timings[1][0] / timings[2][0]
    t = timings[1][1] / timings[2][1]
    print(f"\ntwo workers against one: walks {w:.2f}x, whole recompute {t:.2f}x "
          f"(target >= {TARGET}x: {'MET' if t >= TARGET else 'MISSED'}); in one process {ref_s:.1f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
