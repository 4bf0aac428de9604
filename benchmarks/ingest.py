"""Ingest benchmarks: rows per second, peak memory, and point-in-ward against geopandas.

Run: ``python benchmarks/ingest.py`` (``make bench``). Each phase runs in a fresh process so
that its peak memory is its own. Prints:

- the real national 2011 census file (181,408 OAs): seconds, rows/s, counts/s, peak RSS;
  target: under 60 s on 2 cores;
- the national-scale synthetic demo (generated once into ``.assetmap/bench/national``):
  seconds and rows/s for each file (boundaries, census, assets), peak RSS;
- point-in-ward of every asset in DuckDB spatial against geopandas ``sjoin`` on the same data
  (the same assignments checked), as a ratio; target: DuckDB at least as fast (ratio >= 1).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from _common import SHARED, WORK, peak_mb, phase_from_argv, run_phase  # noqa: E402 (benchmarks/ is the script folder)

log = logging.getLogger("bench")



def phase_census(db: Path) -> dict:
    from assetmap.ingest import ingest_file
    from assetmap.store import Store

    path = SHARED / "census2011" / "oa_ethnic_group_2011_ew.csv.gz"
    if db.exists():
        db.unlink()
    with Store(db) as store:
        t = time.perf_counter()
        r = ingest_file(store, path)
        dt = time.perf_counter() - t
        counts = store.scalar("SELECT count(*) FROM population")
    return {"file": path.name, "rows": r.rows_read, "counts": counts, "seconds": dt,
            "rows_per_s": r.rows_read / dt, "counts_per_s": counts / dt, "peak_mb": peak_mb(),
            "status": r.status}


def phase_national_demo(db: Path, demo: Path) -> dict:
    from assetmap.ingest import expand_paths, ingest_file
    from assetmap.store import Store

    if db.exists():
        db.unlink()
    out = {"files": []}
    t0 = time.perf_counter()
    with Store(db) as store:
        for f in expand_paths([demo]):
            t = time.perf_counter()
            r = ingest_file(store, f)
            dt = time.perf_counter() - t
            out["files"].append({"file": str(f.relative_to(demo)), "kind": r.kind, "rows": r.rows_read,
                                 "accepted": r.rows_accepted, "seconds": dt, "rows_per_s": r.rows_read / dt})
        store.con.execute("CHECKPOINT")
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = peak_mb()
    return out


def phase_point_in_ward(db: Path) -> dict:
    import geopandas as gpd
    import shapely

    from assetmap.store import Store

    with Store(db, read_only=True) as store:
        con = store.con
        n_assets = store.scalar("SELECT count(*) FROM assets")
        n_wards = store.scalar("SELECT count(*) FROM areas WHERE level = 'ward'")
        sql = """SELECT a.asset_id, min(w.code) AS ward FROM assets a
                 JOIN (SELECT code, geom FROM areas WHERE level = 'ward') w ON ST_Contains(w.geom, a.geom)
                 GROUP BY a.asset_id"""
        duck = []
        for _ in range(3):
            t = time.perf_counter()
            res = con.execute(sql).df()
            duck.append(time.perf_counter() - t)
        # the same data, handed to geopandas (load time not counted: only the join)
        wards = con.execute("SELECT code, ST_AsWKB(geom) wkb FROM areas WHERE level = 'ward'").df()
        pts = con.execute("SELECT asset_id, ST_X(geom) x, ST_Y(geom) y FROM assets").df()
    wg = gpd.GeoDataFrame({"code": wards["code"]}, geometry=shapely.from_wkb([bytes(b) for b in wards["wkb"]]),
                          crs="EPSG:27700")
    pg = gpd.GeoDataFrame({"asset_id": pts["asset_id"]}, geometry=gpd.points_from_xy(pts["x"], pts["y"]),
                          crs="EPSG:27700")
    gp = []
    for _ in range(3):
        t = time.perf_counter()
        j = gpd.sjoin(pg, wg, how="inner", predicate="within")
        gp.append(time.perf_counter() - t)
    gpj = j.groupby("asset_id")["code"].min()
    same = res.set_index("asset_id")["ward"].sort_index().equals(gpj.sort_index().rename("ward"))
    return {"assets": n_assets, "wards": n_wards, "duckdb_s": min(duck), "geopandas_s": min(gp),
            "ratio_geopandas_over_duckdb": min(gp) / min(duck), "same_assignment": bool(same)}



def main() -> None:
    if phase_from_argv({"census": phase_census, "national_demo": phase_national_demo,
                        "point_in_ward": phase_point_in_ward}, convert=Path):
        return

    WORK.mkdir(parents=True, exist_ok=True)
    print(f"assetmap ingest benchmarks on {os.cpu_count()} cores")
    if (SHARED / "census2011").exists():
        c = run_phase(__file__, "census", str(WORK / "census.duckdb"))
        print(f"\n[real 2011 census, {c['rows']:,} OAs -> {c['counts']:,} counts]")
        print(f"  ingest {c['seconds']:.1f} s ({c['rows_per_s']:,.0f} rows/s, {c['counts_per_s']:,.0f} counts/s), "
              f"peak {c['peak_mb']:,.0f} MB; target < 60 s: {'MET' if c['seconds'] < 60 else 'MISSED'}")
    else:
        print(f"(real census file absent under {SHARED}; skipped)")

    demo = WORK / "national"
    if not (demo / "MANIFEST.json").exists():
        from assetmap.demo import generate

        t = time.perf_counter()
        generate(demo, scale="national")
        print(f"\n[generated the national-scale synthetic demo in {time.perf_counter() - t:.0f} s]")
    n = run_phase(__file__, "national_demo", str(WORK / "national.duckdb"), str(demo))
    print(f"\n[national-scale synthetic demo: total {n['seconds']:.1f} s, peak {n['peak_mb']:,.0f} MB]")
    for f in n["files"]:
        print(f"  {f['file']:<45} {f['kind']:<12} {f['rows']:>9,} rows {f['seconds']:6.1f} s "
              f"{f['rows_per_s']:>10,.0f} rows/s")
    asset_rows = sum(f["rows"] for f in n["files"] if f["kind"] in ("providers", "osm", "openreferral"))
    asset_s = sum(f["seconds"] for f in n["files"] if f["kind"] in ("providers", "osm", "openreferral"))
    print(f"  assets overall: {asset_rows:,} rows in {asset_s:.1f} s = {asset_rows / asset_s:,.0f} rows/s")

    p = run_phase(__file__, "point_in_ward", str(WORK / "national.duckdb"))
    print(f"\n[point-in-ward: {p['assets']:,} assets in {p['wards']:,} wards]")
    print(f"  DuckDB spatial {p['duckdb_s']:.3f} s, geopandas sjoin {p['geopandas_s']:.3f} s, "
          f"ratio geopandas/DuckDB = {p['ratio_geopandas_over_duckdb']:.2f}x "
          f"(target >= 1: {'MET' if p['ratio_geopandas_over_duckdb'] >= 1 else 'MISSED'}); "
          f"same assignment: {p['same_assignment']}")


if __name__ == "__main__":
    main()
