"""Bus and rail access from timetables: GTFS feeds read by gtfs-kit, and Transport for London's PTAL.

Checked against references that share no code with assetmap's: the method's arithmetic done by
hand; departures recounted from the feed's own text with the ``csv`` module; the busiest weekday
found by trying every weekday of the calendar; the index recomputed per output area with plain
loops; walks to stops by networkx Dijkstra on Newport's streets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from assetmap.analysis.full import recompute
from assetmap.db.store import Store
from assetmap.ingest import ingest_file
from assetmap.transit import ptal
from tests.conftest import REPO, real_data
from tests.network_reference import Reference

#: A Wednesday in July 2018. Most of the feed's services (4,726 of 13,776) start on Sunday 22 July:
#: a date before it (mid-July) sees 3,178 trips, this one 5,375, the busiest weekday (3 August) 5,852.
CARDIFF_DATE = "2018-07-25"
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_LONLAT = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


# -- the method ---------------------------------------------------------------------------------

def test_the_method_step_by_step_on_a_worked_example():
    """A point with three bus routes and a railway near it, each step of TfL's method by hand:

    - route 1 calls at stop A (320 m: 4 minutes' walk) and at B (560 m), 12 an hour each way:
      at A, SWT = 0.5 x 60 / 12 = 2.5, AWT = 2.5 + 2 = 4.5, TAT = 4 + 4.5 = 8.5 (B's is longer);
    - route 2 calls at B (7 minutes), 6 an hour one way and 4 the other: the higher counts,
      SWT 5, AWT 7, TAT 14;
    - route 3 calls at C, 700 m away: beyond the 640 m a bus stop is walked to;
    - a train calls at station D (800 m: 10 minutes) 4 times an hour: SWT 7.5, AWT 7.5 + 0.75,
      TAT 18.25.
    EDFs 30/8.5, 30/14, 30/18.25; bus index 30/8.5 + 0.5 x 30/14; rail 30/18.25; total 6.2447,
    band 2."""
    walks = pd.DataFrame({"poi": [0, 0, 0, 0], "stop_id": ["A", "B", "C", "D"], "walk_m": [320.0, 560.0, 700.0, 800.0]})
    deps = pd.DataFrame([
        ("A", "1", "1", "bus", 0, 12), ("A", "1", "1", "bus", 1, 12),
        ("B", "1", "1", "bus", 0, 12), ("B", "2", "2", "bus", 0, 6), ("B", "2", "2", "bus", 1, 4),
        ("C", "3", "3", "bus", 0, 30),
        ("D", "R", "Valley Line", "rail", 0, 4),
    ], columns=["stop_id", "route_id", "route_name", "mode", "direction_id", "departures"])
    routes = ptal.route_access(walks, ptal.route_frequencies(deps))
    got = routes.set_index("route_id")
    assert sorted(got.index) == ["1", "2", "R"]  # route 3 is out of reach
    assert got.loc["1", "stop_id"] == "A" and got.loc["1", "tat_min"] == pytest.approx(8.5)
    assert got.loc["2", "frequency"] == 6 and got.loc["2", "tat_min"] == pytest.approx(14.0)
    assert got.loc["R", "awt"] == pytest.approx(8.25) and got.loc["R", "tat_min"] == pytest.approx(18.25)
    assert list(got.loc[["1", "2", "R"], "weight"]) == [1.0, 0.5, 1.0]
    ai = ptal.access_index(routes, [0])
    expected = 30 / 8.5 + 0.5 * 30 / 14 + 30 / 18.25
    assert ai["ptal_ai"].iloc[0] == pytest.approx(expected, abs=1e-12)
    assert round(expected, 4) == 6.2447 and ai["ptal_band"].iloc[0] == "2"


@pytest.mark.parametrize(("ai", "band"), [
    (0.0, "0"), (0.01, "1a"), (2.5, "1a"), (2.51, "1b"), (5.0, "1b"), (5.01, "2"), (10.0, "2"), (10.01, "3"),
    (15.01, "4"), (20.01, "5"), (25.0, "5"), (25.01, "6a"), (40.0, "6a"), (40.01, "6b"), (95.0, "6b")])
def test_the_nine_bands_as_published(ai, band):
    assert ptal.band(ai)[0] == band


def test_a_missing_index_has_no_band():
    assert ptal.band(np.array([np.nan, 3.0])).tolist() == [None, "1b"]


@pytest.mark.parametrize(("route_type", "mode"), [
    (3, "bus"), (700, "bus"), (200, "bus"), (11, "bus"), (2, "rail"), (100, "rail"), (1, "metro"), (401, "metro"),
    (0, "tram"), (900, "tram"), (4, "ferry"), (1000, "ferry"), ("x", "bus")])
def test_route_types_map_to_the_methods_modes(route_type, mode):
    assert ptal.mode_of_route_type(route_type) == mode


# -- a small feed with every kind of mess ---------------------------------------------------------

def _feed(tables: dict[str, list[dict]], skip: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, rows in tables.items():
            if name in skip:
                continue
            text = io.StringIO()
            w = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            z.writestr(name, text.getvalue())
    return buf.getvalue()


def _stop_times(trip: str, calls: list[tuple[str, str]], pickup: dict[int, str] | None = None) -> list[dict]:
    return [{"trip_id": trip, "arrival_time": t, "departure_time": t, "stop_id": s, "stop_sequence": k,
             "pickup_type": (pickup or {}).get(k, "NA")} for k, (s, t) in enumerate(calls, start=1)]


def messy_tables() -> dict[str, list[dict]]:
    """Monday 2026-03-02 to Friday: weekday service; plus a night service of Mondays running past
    midnight into Tuesday's peak; a service that ended the Friday before; NA for empty fields; a
    stop no trip calls at; one without coordinates; a call where no one may board."""
    def at(dx: float, dy: float) -> tuple[str, str]:  # in the demo city, near its centre
        lon, lat = TO_LONLAT.transform(452_000.0 + dx, 318_000.0 + dy)
        return f"{lat:.6f}", f"{lon:.6f}"

    stops = [{"stop_id": s, "stop_name": s, "stop_lat": p[0], "stop_lon": p[1], "stop_url": "NA"} for s, p in (
        ("S1", at(0, 0)), ("S2", at(200, 100)), ("S3", at(400, 200)), ("UNUSED", at(-500, 300)),
        ("NOWHERE", ("NA", "NA")))]
    trips, times = [], []
    for k, t0 in enumerate(("08:00:00", "08:20:00", "08:40:00", "09:00:00", "09:20:00")):
        trip = f"D{k}"
        trips.append({"route_id": "R1", "service_id": "WK", "trip_id": trip, "direction_id": 0, "shape_id": "NA"})
        h, m = int(t0[:2]), int(t0[3:5])
        times += _stop_times(trip, [("S1", t0), ("S2", f"{h:02d}:{m + 5:02d}:00"), ("S3", f"{h:02d}:{m + 10:02d}:00")],
                             pickup={2: "1"} if k == 1 else None)
    trips.append({"route_id": "N9", "service_id": "MONNIGHT", "trip_id": "N1", "direction_id": 1, "shape_id": "NA"})
    times += _stop_times("N1", [("S3", "32:30:00"), ("S1", "32:45:00")])
    trips.append({"route_id": "OLD", "service_id": "ENDED", "trip_id": "O1", "direction_id": 0, "shape_id": "NA"})
    times += _stop_times("O1", [("S1", "08:30:00"), ("S2", "08:35:00")])
    cal = lambda sid, days, start, end: {"service_id": sid, **{d: int(d in days) for d in (  # noqa: E731
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
        "start_date": start, "end_date": end}
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
    return {
        "agency.txt": [{"agency_id": "A", "agency_name": "Test", "agency_url": "NA",
                        "agency_timezone": "Europe/London"}],
        "stops.txt": stops,
        "routes.txt": [{"route_id": r, "agency_id": "A", "route_short_name": n, "route_long_name": "NA",
                        "route_type": 3} for r, n in (("R1", "1"), ("N9", "N9"), ("OLD", "99"))],
        "trips.txt": trips, "stop_times.txt": times,
        "calendar.txt": [cal("WK", weekdays, "20260302", "20261231"), cal("MONNIGHT", ("monday",), "20260302",
                                                                          "20261231"),
                         cal("ENDED", weekdays, "20250101", "20260227")],
        "calendar_dates.txt": [{"service_id": "WK", "date": "20260305", "exception_type": 2}],
    }


def test_a_messy_feed_is_counted_as_a_planner_would(city_store, tmp_path):
    path = tmp_path / "messy_gtfs.zip"
    path.write_bytes(_feed(messy_tables()))
    res = ingest_file(city_store, path, service_date="2026-03-03")  # a Tuesday
    assert res.status == "completed", res.message
    # every stops.txt row stored or quarantined, with the reason
    assert (res.rows_read, res.rows_accepted, res.rows_quarantined) == (5, 3, 2)
    reasons = dict(city_store.con.execute(
        "SELECT reason_code, count(*) FROM quarantine WHERE ingest_id = ? GROUP BY 1", [res.ingest_id]).fetchall())
    assert reasons == {"no_service": 1, "bad_coordinates": 1}
    deps = city_store.con.execute("SELECT stop_id, route_id, departures FROM transit_departures "
                                  "ORDER BY 1, 2").fetchall()
    # route 1 leaves S1 at 08:20, 08:40, 09:00 (08:00 is before the peak, 09:20 after it); at S2
    # 08:25, 08:45(no boarding on that one: pickup_type 1), 09:05; S3 is the last call: no departure;
    # the Monday night bus leaves S3 at 32:30 = Tuesday 08:30; the ended service does not run
    assert deps == [("S1", "R1", 3), ("S2", "R1", 2), ("S3", "N9", 1)]
    assert "1 of them by the day before's trips past 24:00" in res.message
    assert "trips do not run that day" in res.message
    # Thursday 5 March's weekday service is cancelled (calendar_dates), the night bus runs on
    # Monday nights and the old service has ended: no trip runs, and the feed is refused for it
    res2 = ingest_file(city_store, path, service_date="2026-03-05")
    assert res2.status == "refused" and res2.reason_code == "no_service"
    assert city_store.scalar("SELECT sum(departures) FROM transit_departures") == 6  # the Tuesday's kept


def test_the_default_service_date_is_the_busiest_weekday(city_store, tmp_path):
    path = tmp_path / "messy_gtfs.zip"
    path.write_bytes(_feed(messy_tables()))
    res = ingest_file(city_store, path)
    assert res.status == "completed"
    day, how = city_store.con.execute("SELECT service_date, date_chosen FROM transit_info").fetchone()
    # the ended service ran on weekdays up to 27 Feb 2026 with one trip; from 2 March the weekday
    # service runs five, the Monday night bus one more: Monday 2 March is the busiest weekday
    assert (day, how) == (dt.date(2026, 3, 2), "busiest weekday")


@pytest.mark.parametrize(("skip", "reason"), [(("stop_times.txt",), "incomplete_gtfs"),
                                               (("calendar.txt", "calendar_dates.txt"), "incomplete_gtfs")])
def test_a_broken_feed_is_refused_in_one_line_and_keeps_the_last(city_store, tmp_path, skip, reason):
    good = tmp_path / "good.zip"
    good.write_bytes(_feed(messy_tables()))
    assert ingest_file(city_store, good, service_date="2026-03-03").status == "completed"
    before = city_store.con.execute("SELECT count(*), sum(departures) FROM transit_departures").fetchone()
    bad = tmp_path / "broken.zip"
    bad.write_bytes(_feed(messy_tables(), skip=skip))
    res = ingest_file(city_store, bad)
    assert res.status == "refused" and res.reason_code == reason
    assert "\n" not in res.message and "departures cannot be counted" in res.message
    assert city_store.con.execute("SELECT count(*), sum(departures) FROM transit_departures").fetchone() == before


def test_a_service_date_outside_the_calendar_is_refused(city_store, tmp_path):
    path = tmp_path / "messy_gtfs.zip"
    path.write_bytes(_feed(messy_tables()))
    res = ingest_file(city_store, path, service_date="2030-01-01")
    assert res.status == "refused" and res.reason_code == "no_service"
    assert "--service-date" in res.message


def test_the_command_line_refuses_a_zip_that_is_not_gtfs_without_a_traceback(tmp_path):
    notes = tmp_path / "notes.zip"
    with zipfile.ZipFile(notes, "w") as z:
        z.writestr("readme.txt", "not a timetable")
    half = tmp_path / "half_gtfs.zip"
    half.write_bytes(_feed(messy_tables(), skip=("stop_times.txt",)))
    for f in (notes, half):
        p = subprocess.run([str(Path(sys.executable).with_name("assetmap")), "ingest", str(f), "--db",
                            str(tmp_path / "s.duckdb")],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
        assert p.returncode == 2
        out = p.stdout + p.stderr
        assert "Traceback" not in out
        assert len([ln for ln in p.stdout.splitlines() if ln.startswith("REFUSED")]) == 1


def test_the_same_feed_again_changes_nothing(city_store, tmp_path):
    path = tmp_path / "messy_gtfs.zip"
    path.write_bytes(_feed(messy_tables()))
    assert ingest_file(city_store, path, service_date="2026-03-03").status == "completed"
    assert ingest_file(city_store, path, service_date="2026-03-03").status == "unchanged"


# -- Cardiff: the real bus feed, every output area ----------------------------------------------------

@pytest.fixture(scope="module")
def cardiff(tmp_path_factory) -> Store:
    path = tmp_path_factory.mktemp("cardiff") / "cardiff.duckdb"
    store = Store(path)
    store.migrate()
    for name in ("oa_2011", "wards_2013"):
        assert ingest_file(store, real_data("cardiff", f"{name}.geojson")).status == "completed"
    res = ingest_file(store, real_data("cardiff-network", "cardiff_gtfs_2018.zip"), service_date=CARDIFF_DATE)
    assert res.status == "completed", res.message
    recompute(store)
    yield store
    store.close()


def _feed_text(zip_path: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(zip_path) as z:
        return list(csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8-sig")))


def _secs(t: str) -> int | None:
    try:
        h, m, s = t.split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)
    except ValueError:
        return None


def recount(zip_path: Path, day: dt.date) -> Counter:
    """Departures per (stop, route, direction) in 08:15-09:15 of ``day``, from the feed's text alone."""
    wd = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

    def running(d: dt.date) -> set[str]:
        ymd = d.strftime("%Y%m%d")
        on = {c["service_id"] for c in _feed_text(zip_path, "calendar.txt")
              if c["start_date"] <= ymd <= c["end_date"] and c[wd[d.weekday()]] == "1"}
        for c in _feed_text(zip_path, "calendar_dates.txt"):
            if c["date"] == ymd:
                (on.add if c["exception_type"] == "1" else on.discard)(c["service_id"])
        return on

    today, yesterday = running(day), running(day - dt.timedelta(days=1))
    trips = {t["trip_id"]: t for t in _feed_text(zip_path, "trips.txt")}
    calls: dict[str, list[tuple[int, str, str, str]]] = {}
    for st in _feed_text(zip_path, "stop_times.txt"):
        calls.setdefault(st["trip_id"], []).append((int(st["stop_sequence"]), st["stop_id"],
                                                    st["departure_time"] or st["arrival_time"], st["pickup_type"]))
    out: Counter = Counter()
    for trip_id, cs in calls.items():
        t = trips[trip_id]
        direction = int(t["direction_id"]) if t.get("direction_id") not in (None, "", "NA") else -1
        cs.sort()
        for _seq, stop, time, pickup in cs[:-1]:
            s = _secs(time)
            if s is None or pickup == "1":
                continue
            if (t["service_id"] in today and 8 * 3600 + 900 <= s < 9 * 3600 + 900) or \
                    (t["service_id"] in yesterday and 32 * 3600 + 900 <= s < 33 * 3600 + 900):
                out[(stop, t["route_id"], direction)] += 1
    return out


def test_cardiff_departures_equal_a_recount_from_the_feeds_own_text(cardiff):
    zip_path = real_data("cardiff-network", "cardiff_gtfs_2018.zip")
    expected = recount(zip_path, dt.date.fromisoformat(CARDIFF_DATE))
    kept = {r[0] for r in cardiff.con.execute("SELECT stop_id FROM transit_stops").fetchall()}
    expected = {k: v for k, v in expected.items() if k[0] in kept}
    got = {(s, r, d): n for s, r, d, n in cardiff.con.execute(
        "SELECT stop_id, route_id, direction_id, departures FROM transit_departures").fetchall()}
    assert got == expected
    assert sum(got.values()) > 10_000  # a city's morning peak, not an empty join


def test_cardiff_busiest_weekday_is_the_most_trips_of_any_weekday(cardiff, tmp_path):
    """The default date, against every weekday from the calendar's first date to its last."""
    zip_path = real_data("cardiff-network", "cardiff_gtfs_2018.zip")
    cal = pd.DataFrame(_feed_text(zip_path, "calendar.txt"))
    per_service = pd.DataFrame(_feed_text(zip_path, "trips.txt")).groupby("service_id").size()
    n = cal["service_id"].map(per_service).fillna(0).to_numpy()
    start, end = cal["start_date"].astype(int).to_numpy(), cal["end_date"].astype(int).to_numpy()
    days = pd.bdate_range(str(start.min()), str(end.max()))
    names = ("monday", "tuesday", "wednesday", "thursday", "friday")
    runs = {d: (cal[d] == "1").to_numpy() for d in names}
    counts = np.array([n[(start <= int(d.strftime("%Y%m%d"))) & (end >= int(d.strftime("%Y%m%d")))
                         & runs[names[d.weekday()]]].sum() for d in days])
    best = days[int(np.argmax(counts))].date()
    from assetmap.transit.gtfs import read_timetable

    tt = read_timetable(zip_path.read_bytes(), zip_path)
    assert tt.date_chosen == "busiest weekday" and tt.service_date == best
    assert tt.counts["trips_on_date"] == counts.max()


def _ptal_by_loops(con) -> dict[str, float]:
    """Every OA's index by plain loops over the stored stops and departures (straight lines, as
    the store holds no street network), without pandas' joins or assetmap's functions."""
    oas = con.execute("SELECT oa_code, x, y FROM oa_inputs ORDER BY oa_code").fetchall()
    stops = con.execute("SELECT stop_id, x, y FROM transit_stops").fetchall()
    freq: dict[str, dict[tuple[str, str], int]] = {}
    for stop, route, mode, n in con.execute("SELECT stop_id, route_id, mode, max(departures) FROM transit_departures "
                                            "GROUP BY 1, 2, 3").fetchall():
        freq.setdefault(stop, {})[(route, mode)] = n
    sx = np.array([s[1] for s in stops])
    sy = np.array([s[2] for s in stops])
    out = {}
    for code, x, y in oas:
        d = np.hypot(sx - x, sy - y)
        best: dict[tuple[str, str], float] = {}
        for k in np.flatnonzero(d <= 960.0):
            for (route, mode), f in freq.get(stops[k][0], {}).items():
                reach, k_min = (640.0, 2.0) if mode == "bus" else (960.0, 0.75)
                if d[k] > reach:
                    continue
                tat = d[k] / 80.0 + 0.5 * 60.0 / f + k_min
                best[(route, mode)] = min(best.get((route, mode), np.inf), tat)
        ai = 0.0
        for mode in {m for _, m in best}:
            edfs = sorted((30.0 / t for (_, m), t in best.items() if m == mode), reverse=True)
            ai += edfs[0] + 0.5 * sum(edfs[1:])
        out[code] = ai
    return out


def test_every_cardiff_output_area_has_a_ptal_equal_to_a_plain_recomputation(cardiff):
    got = dict(cardiff.con.execute("SELECT oa_code, ptal_ai FROM oa_ptal").fetchall())
    assert len(got) == 1077 and all(v is not None for v in got.values())
    assert cardiff.scalar("SELECT count(DISTINCT walk_mode) FROM oa_ptal") == 1
    assert cardiff.scalar("SELECT any_value(walk_mode) FROM oa_ptal") == "crow_flies"
    ref = _ptal_by_loops(cardiff.con)
    assert set(ref) == set(got)
    worst = max(abs(got[k] - ref[k]) for k in ref)
    assert worst < 1e-9
    # the bands follow the index; a ward's figure is its residents' mean
    bands = dict(cardiff.con.execute("SELECT oa_code, ptal_band FROM oa_ptal").fetchall())
    assert all(bands[k] == ptal.band(v)[0] for k, v in got.items())
    assert cardiff.scalar("SELECT count(*) FROM unit_ptal WHERE unit_level = 'ward'") == 29


def test_the_city_centre_rates_higher_than_the_outskirts(cardiff):
    x0, y0 = TO_BNG.transform(-3.1791, 51.4757)  # Cardiff Central
    df = cardiff.con.execute("SELECT p.ptal_ai, i.x, i.y FROM oa_ptal p JOIN oa_inputs i USING (oa_code)").df()
    r = np.hypot(df["x"] - x0, df["y"] - y0)
    centre, edge = df.loc[r < 1000, "ptal_ai"], df.loc[r > 7000, "ptal_ai"]
    assert len(centre) > 30 and len(edge) > 30
    assert centre.median() > 2 * edge.median()
    assert ptal.band(centre.median())[0] in ("4", "5", "6a", "6b")  # the heart of a city's bus network
    # and it falls away with the distance from the centre
    ring = (r // 2000).clip(upper=4)
    medians = df.groupby(ring)["ptal_ai"].median()
    assert medians.is_monotonic_decreasing


def test_cardiffs_stops_beyond_the_city_are_quarantined_with_the_reason(cardiff):
    n = dict(cardiff.con.execute(
        "SELECT reason_code, count(*) FROM quarantine q JOIN ingests i USING (ingest_id) WHERE i.kind = 'gtfs' "
        "GROUP BY 1").fetchall())
    kept = cardiff.scalar("SELECT count(*) FROM transit_stops")
    assert kept + sum(n.values()) == 4368
    assert set(n) == {"outside_study_area"} and 1500 < kept < 3000


# -- Newport: walks to stops along the streets --------------------------------------------------------

def test_newport_walks_to_stops_along_the_street_network(store):
    for name in ("wards_2013", "oa_2011"):
        assert ingest_file(store, real_data("newport", f"{name}.geojson")).status == "completed"
    assert ingest_file(store, real_data("newport-network", "newport-2023-06-13.osm.pbf")).status == "completed"
    res = ingest_file(store, real_data("newport-network", "newport-20230613_gtfs.zip"), service_date="2023-06-13")
    assert res.status == "completed", res.message
    recompute(store)
    modes = dict(store.con.execute("SELECT walk_mode, count(*) FROM oa_ptal GROUP BY 1").fetchall())
    assert set(modes) == {"network", "outside"} and modes["network"] > 250
    assert store.scalar("SELECT count(*) FROM oa_ptal WHERE walk_mode = 'outside' AND ptal_ai IS NOT NULL") == 0
    rows = store.con.execute(
        """SELECT r.oa_code, r.stop_id, r.walk_m, i.x, i.y, s.x, s.y FROM oa_ptal_routes r
           JOIN oa_inputs i USING (oa_code) JOIN transit_stops s USING (stop_id)""").fetchall()
    assert len(rows) > 100
    crow = np.array([np.hypot(r[3] - r[5], r[4] - r[6]) for r in rows])
    walk = np.array([r[2] for r in rows])
    assert (walk >= crow - 1e-6).all() and np.median(walk / crow) > 1.1
    # each walk is networkx Dijkstra's on the same streets
    oa_codes = [r[0] for r in store.con.execute("SELECT oa_code FROM oa_inputs ORDER BY oa_code").fetchall()]
    oa_xy = store.con.execute("SELECT x, y FROM oa_inputs ORDER BY oa_code").fetchnumpy()
    ref = Reference(store.con, np.column_stack([oa_xy["x"], oa_xy["y"]]))
    pairs = sorted({(r[0], r[1]) for r in rows})[:80]
    stop_ids = sorted({p[1] for p in pairs})
    sxy = store.con.execute("SELECT x, y FROM transit_stops WHERE list_contains(?, stop_id) ORDER BY stop_id",
                            [stop_ids]).fetchnumpy()
    on = ref.add_assets(np.column_stack([sxy["x"], sxy["y"]]))
    assert on.all()
    import networkx as nx

    stored = {(r[0], r[1]): r[2] for r in rows}
    for oa, stop in pairs:
        d = nx.dijkstra_path_length(ref.g, ("oa", oa_codes.index(oa)), ("asset", stop_ids.index(stop)),
                                    weight="effort")
        assert abs(d - stored[(oa, stop)]) < 1e-6


# -- in the product -------------------------------------------------------------------------------

def test_the_demo_has_a_ptal_for_every_output_area_in_its_exports(analysed_store, tmp_path):
    from assetmap.export import export_layer

    n = analysed_store.scalar("SELECT count(*) FROM areas WHERE level = 'oa'")
    out = tmp_path / "oas.csv"
    assert export_layer(analysed_store, "oas", "csv", out) == n
    df = pd.read_csv(out)
    assert df["ptal_ai"].notna().all() and df["ptal_band"].isin(ptal.BANDS).all()
    assert df["ptal_band"].nunique() >= 3  # the demo's buses reach some places better than others
    wards = tmp_path / "wards.csv"
    export_layer(analysed_store, "wards", "csv", wards)
    w = pd.read_csv(wards)
    assert w["ptal_ai"].notna().all()
    # a ward's figure is the resident-weighted mean of its OAs'
    code = w["code"].iloc[0]
    check = analysed_store.scalar(
        """SELECT sum(p.ptal_ai * i.population) / sum(i.population) FROM oa_ptal p JOIN oa_inputs i USING (oa_code)
           JOIN area_lookup l ON l.area_code = p.oa_code AND l.parent_level = 'ward' WHERE l.parent_code = ?""",
        [code])
    assert w.loc[w["code"] == code, "ptal_ai"].iloc[0] == pytest.approx(check, rel=1e-9)


def test_the_ward_profile_and_brief_say_the_band_and_the_routes(analysed_store):
    from assetmap import queries
    from dashboards.brief import ward_brief

    code = analysed_store.scalar("SELECT unit_code FROM unit_ptal WHERE unit_level = 'ward' ORDER BY ptal_ai DESC "
                                 "LIMIT 1")
    p = queries.ward_ptal(analysed_store.con, code)
    assert p is not None and p["ptal_band"] in ptal.BANDS and len(p["routes"]) >= 2
    line = queries.ptal_sentence(p)
    assert f"PTAL {p['ptal_band']}" in line and "on foot along the streets" in line
    html = ward_brief(analysed_store.con, code)
    assert "Bus and rail access (PTAL)" in html and p["routes"]["route"].iloc[0] in html
    values = queries.measure_values(analysed_store.con, queries.Measure(kind="ptal"))
    assert len(values) == 60 and values["value"].notna().all()


# -- the option: a short walk and one bus on the supply side ------------------------------------------

def test_a_short_walk_and_one_bus_is_walk_wait_ride_walk_by_brute_force(cardiff):
    """Every journey the option finds, and its cost, against loops over every pair of stops."""
    from assetmap.network import CrowFlies
    from assetmap.transit.journeys import WalkAndBus

    con = cardiff.con
    oas = con.execute("SELECT x, y FROM oa_inputs ORDER BY oa_code").fetchnumpy()
    oa_xy = np.column_stack([oas["x"], oas["y"]])
    stops = con.execute("SELECT stop_id, x, y FROM transit_stops ORDER BY stop_id").df()
    links = con.execute("SELECT route_id, from_stop, to_stop, ride_min, departures FROM transit_links").df()
    rng = np.random.default_rng(7)
    assets = oa_xy[rng.choice(len(oa_xy), 25, replace=False)] + rng.uniform(-150, 150, (25, 2))
    sample = np.sort(rng.choice(len(oa_xy), 150, replace=False))
    got_a, got_o, got_c = WalkAndBus(CrowFlies(oa_xy), stops, links).pairs(assets, 1600.0, sample)
    got = {(int(a), int(o)): c for a, o, c in zip(got_a, got_o, got_c, strict=True)}
    # the reference: plain loops
    m = 80.0  # metres a minute at 4.8 km/h
    ride: dict[tuple[str, str], float] = {}
    for r in links.itertuples():
        t = 0.5 * 60.0 / r.departures + r.ride_min
        ride[(r.from_stop, r.to_stop)] = min(ride.get((r.from_stop, r.to_stop), np.inf), t)
    sxy = stops[["x", "y"]].to_numpy()
    sid = stops["stop_id"].tolist()
    expected = {}
    for o in sample:
        near_o = [(sid[k], d) for k, d in enumerate(np.hypot(*(sxy - oa_xy[o]).T)) if d <= 400.0]
        for a in range(len(assets)):
            best = float(np.hypot(*(oa_xy[o] - assets[a])))
            best = best if best <= 1600.0 else np.inf
            near_a = [(sid[k], d) for k, d in enumerate(np.hypot(*(sxy - assets[a]).T)) if d <= 400.0]
            for s1, d1 in near_o:
                for s2, d2 in near_a:
                    if (s1, s2) in ride:
                        best = min(best, (d1 / m + ride[(s1, s2)] + d2 / m) * m)
            if best <= 1600.0:
                expected[(a, int(o))] = best
    assert set(got) == set(expected)
    assert max(abs(got[k] - expected[k]) for k in expected) < 1e-9
    walk_only = {(a, o) for (a, o), c in expected.items() if np.hypot(*(oa_xy[o] - assets[a])) <= 1600.0}
    # the buses reach providers no 20-minute walk does (35 pairs in this sample of 150 x 25)
    assert len(expected) - len(walk_only) >= 20


def test_the_option_widens_supply_on_the_demo_and_switching_it_off_restores_walking(analysed_store, monkeypatch):
    from assetmap.analysis import recompute_affected
    from assetmap.settings import settings

    con = analysed_store.con
    before = con.execute("SELECT oa_code, category, n_1600, e2sfca FROM oa_access ORDER BY 1, 2").df()
    monkeypatch.setattr(settings, "supply_by_bus", True)
    res = recompute(analysed_store)
    assert any("one bus away" in n for n in res.notes)
    assert analysed_store.scalar("SELECT bool_and(supply_by_bus) FROM unit_access")
    on = con.execute("SELECT oa_code, category, n_1600, e2sfca, nearest_m FROM oa_access ORDER BY 1, 2").df()
    assert (on["n_1600"].to_numpy() >= before["n_1600"].to_numpy()).all()
    assert (on["n_1600"].to_numpy() > before["n_1600"].to_numpy()).mean() > 0.05
    # with the option on, a bus reaches beyond any radius: a change is recomputed in full
    assert recompute_affected(analysed_store, []).mode == "full"
    monkeypatch.setattr(settings, "supply_by_bus", False)
    assert recompute_affected(analysed_store, []).mode == "full"  # switched off: in full once more
    after = con.execute("SELECT oa_code, category, n_1600, e2sfca FROM oa_access ORDER BY 1, 2").df()
    pd.testing.assert_frame_equal(after, before)
    assert not analysed_store.scalar("SELECT bool_or(supply_by_bus) FROM unit_access")
