"""Bus access benchmark: Cardiff's real bus feed and its 1,077 output areas, against gtfs-kit's
own departure counts measured in the same run.

Run: ``python benchmarks/transit.py``. Each phase runs in a fresh process. Prints:

- ours: reading the feed (gtfs-kit), choosing the busiest weekday, counting the morning peak's
  departures and storing the stops and departures; then the PTAL of every OA (straight-line walks:
  there is no Cardiff street network in the shared data) and of every ward. Target: feed read plus
  PTAL under 10 s on 2 cores;
- gtfs-kit's ``compute_stop_stats`` for the same date (its trips per stop that day), its time,
  and whether every kept stop's count agrees with ours (ours counts the calls one can board, so
  a trip's last call is added back for the comparison).
"""

from __future__ import annotations

import sys
import time

from _common import SHARED, WORK, peak_mb, phase_from_argv, run_phase

FEED = SHARED / "cardiff-network" / "cardiff_gtfs_2018.zip"


def phase_ours() -> dict:
    from assetmap.analysis.full import recompute
    from assetmap.db.store import Store
    from assetmap.ingest import ingest_file
    from assetmap.network import CrowFlies
    from assetmap.transit import access

    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "cardiff_transit.duckdb"
    db.unlink(missing_ok=True)
    store = Store(db)
    for name in ("oa_2011", "wards_2013"):
        r = ingest_file(store, SHARED / "cardiff" / f"{name}.geojson")
        assert r.status == "completed", r.message
    recompute(store)  # the OA points (no timetable yet)
    t0 = time.perf_counter()
    r = ingest_file(store, FEED)
    assert r.status == "completed", r.message
    t_feed = time.perf_counter() - t0
    oas = store.con.execute("SELECT oa_code, x, y, population FROM oa_inputs ORDER BY oa_code").df()
    t = time.perf_counter()
    result = access.compute(store.con, oas["oa_code"].to_numpy(object), oas["population"].to_numpy(float),
                            CrowFlies(oas[["x", "y"]].to_numpy(float)))
    t_ptal = time.perf_counter() - t
    assert result is not None
    day = store.con.execute("SELECT service_date FROM transit_info").fetchone()[0]
    stops = dict(store.con.execute("SELECT stop_id, departures FROM transit_stops").fetchall())
    bands = result.oas["ptal_band"].value_counts().to_dict()
    return {"feed_s": t_feed, "ptal_s": t_ptal, "oas": len(oas), "day": day.isoformat(), "stops": stops,
            "bands": bands, "peak_mb": peak_mb()}


def phase_gtfs_kit(day: str) -> dict:
    import gtfs_kit as gk

    t0 = time.perf_counter()
    feed = gk.read_feed(FEED, dist_units="km")
    ymd = day.replace("-", "")
    stats = feed.compute_stop_stats([ymd])
    seconds = time.perf_counter() - t0
    # the last call of each trip running that day (ours does not count it: no one boards there)
    trips = feed.get_trips(ymd)
    st = feed.stop_times[feed.stop_times["trip_id"].isin(trips["trip_id"])]
    last = st.loc[st.groupby("trip_id")["stop_sequence"].idxmax(), "stop_id"].value_counts()
    return {"seconds": seconds, "num_trips": stats.set_index("stop_id")["num_trips"].astype(int).to_dict(),
            "last_calls": last.astype(int).to_dict()}


PHASES = {"ours": phase_ours, "gtfs_kit": phase_gtfs_kit}


def main() -> None:
    if not FEED.exists():
        print(f"the real data is missing: {FEED} (../shared/geodata-sources)")
        return
    me = __file__
    ours = run_phase(me, "ours")
    ref = run_phase(me, "gtfs_kit", ours["day"])
    total = ours["feed_s"] + ours["ptal_s"]
    agree = sum(1 for s, n in ours["stops"].items()
                if n + ref["last_calls"].get(s, 0) == ref["num_trips"].get(s, 0))
    print(f"Cardiff bus feed (2018, 13,776 trips, 539,334 stop times), busiest weekday {ours['day']}; "
          f"{ours['oas']:,} OAs")
    print(f"  ours: read, count the 08:15-09:15 departures and store {ours['feed_s']:.2f} s + PTAL of every OA "
          f"and ward {ours['ptal_s']:.2f} s = {total:.2f} s (target < 10 s); peak {ours['peak_mb']:.0f} MB")
    print(f"  gtfs-kit compute_stop_stats for that day (its own read included): {ref['seconds']:.2f} s; "
          f"ours / gtfs-kit = {total / ref['seconds']:.2f}")
    print(f"  each kept stop's departures that day, ours + its last calls = gtfs-kit's trips: {agree:,} of "
          f"{len(ours['stops']):,} stops agree")
    bands = ", ".join(f"{b} {ours['bands'].get(b, 0)}" for b in ("0", "1a", "1b", "2", "3", "4", "5", "6a", "6b"))
    print(f"  OAs by PTAL band: {bands}")


if __name__ == "__main__":
    if not phase_from_argv(PHASES):
        main()
        sys.exit(0)
