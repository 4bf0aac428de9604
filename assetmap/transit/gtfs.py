"""Reading a GTFS feed with gtfs-kit: the stops, and the departures in the PTAL morning peak.

The feed is parsed by gtfs-kit (``gtfs_kit.read_feed``; its ``get_active_services`` applies
``calendar`` and ``calendar_dates``). What this module adds is what a PTAL needs and what real
feeds make hard:

- **the service date**: ``--service-date``, or else the feed's busiest weekday (most trips
  running). The trips running on a date change only where a service starts or ends or an
  exception falls, so each weekday within a week after each such date is tried: that covers
  every weekday of every stretch in which the timetable is constant;
- **times past 24:00**: a trip of the day before that runs after midnight (``32:30:00``) calls in
  this morning's peak if its time, less 24 hours, falls in it;
- **``NA`` for empty fields** (feeds exported from R) are read as missing;
- **stops.txt for all of Great Britain** while the trips serve one town: only stops some trip calls
  at are kept, and of those only the ones in and around the study area (see
  :mod:`assetmap.sources.gtfs`);
- **services that ended before the date** (or start after it) are counted and reported.

A departure is a call where one can board: not the last call of a trip, not ``pickup_type`` 1.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import io
import logging
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assetmap.errors import FileRefused
from assetmap.transit.ptal import PEAK, mode_of_route_type

log = logging.getLogger(__name__)

_TIME = re.compile(r"^\d{1,3}:[0-5]\d:[0-5]\d$")
#: The files a feed must have for departures to be counted (and one of the two calendars).
REQUIRED = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
_CALENDARS = ("calendar.txt", "calendar_dates.txt")


def _members(data: bytes) -> set[str] | None:
    """Return the file names at the root of a zip archive (None when ``data`` is not a zip)."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {Path(n).name for n in z.namelist() if "/" not in n.rstrip("/")}
    except zipfile.BadZipFile:
        return None


def looks_like_gtfs(data: bytes, path: Path) -> bool:
    """Tell whether ``data`` is a zip holding ``stops.txt`` and at least one other GTFS table at its root."""
    names = _members(data) or set()
    return "stops.txt" in names and bool(names & {"stop_times.txt", "trips.txt", "routes.txt",
                                                                   "agency.txt"})


def seconds(times: pd.Series) -> np.ndarray:
    """Seconds after the start of the service day of ``H:MM:SS`` strings (hours may pass 23).

    NaN where a time is missing or not a time. Each distinct time is parsed once (gtfs-kit's
    ``timestr_to_seconds``): a day's half a million calls hold a few thousand distinct times.
    """
    from gtfs_kit.helpers import timestr_to_seconds

    codes, uniques = pd.factorize(times.astype("string").str.strip(), use_na_sentinel=True)
    parsed = np.array([timestr_to_seconds(str(u)) if _TIME.match(str(u)) else np.nan for u in uniques] + [np.nan],
                      dtype=float)
    return parsed[np.where(codes < 0, len(uniques), codes)]


@dataclass
class Timetable:
    """What a feed gives a PTAL: its stops with a mode, and departures in the peak."""

    #: ``stop_id, name, lon, lat, mode, departures, row_number, raw`` for every stops.txt row;
    #: ``called`` says whether any trip calls there (any day); ``reason`` why a row cannot be used
    stops: pd.DataFrame
    #: ``stop_id, route_id, route_name, mode, direction_id, departures`` in the peak of ``service_date``
    departures: pd.DataFrame
    #: ``route_id, from_stop, to_stop, ride_min, departures``: one ride from a stop boarded in the
    #: peak to a later stop of the same trip (see :func:`links`)
    links: pd.DataFrame
    service_date: _dt.date
    date_chosen: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read_feed(data: bytes, path: Path) -> Any:
    import gtfs_kit as gk

    with tempfile.TemporaryDirectory(prefix="assetmap-gtfs-") as tmp:
        p = Path(tmp) / "feed.zip"
        p.write_bytes(data)
        return gk.read_feed(p, dist_units="km")


def _candidate_dates(feed: Any) -> list[str]:
    """Every weekday (``YYYYMMDD``) within a week after a date where the running trips can change."""
    starts: set[str] = set()
    if feed.calendar is not None and not feed.calendar.empty:
        starts |= set(feed.calendar["start_date"].astype(str))
        ends = pd.to_datetime(feed.calendar["end_date"].astype(str), format="%Y%m%d", errors="coerce").dropna()
        starts |= {(d + pd.Timedelta(days=1)).strftime("%Y%m%d") for d in ends}
    if feed.calendar_dates is not None and not feed.calendar_dates.empty:
        starts |= set(feed.calendar_dates["date"].astype(str))
    first = pd.to_datetime(sorted(starts), format="%Y%m%d", errors="coerce").dropna()
    days = {(d + pd.Timedelta(days=k)) for d in first for k in range(7)}
    return sorted(d.strftime("%Y%m%d") for d in days if d.weekday() < calendar.SATURDAY)


def busiest_weekday(feed: Any) -> str | None:
    """Return the weekday (``YYYYMMDD``) on which the most trips run (the earliest of equals)."""
    trips_by_service = feed.trips.groupby("service_id").size()
    best: tuple[int, str] | None = None
    for d in _candidate_dates(feed):
        n = int(trips_by_service.reindex(feed.get_active_services(d)).fillna(0).sum())
        if n and (best is None or n > best[0]):
            best = (n, d)
    return None if best is None else best[1]


def read_timetable(data: bytes, path: Path, service_date: _dt.date | str | None = None) -> Timetable:
    """Parse a GTFS zip and count its departures in the PTAL peak of one service date.

    Raises :class:`~assetmap.sources._io.FileRefused` (one line, nothing stored) for a zip that
    lacks a required table, has no calendar, or runs no trip on the date.
    """
    feed = _complete_feed(data, path)
    day, chosen = _service_day(feed, path, service_date)
    date = _dt.datetime.strptime(day, "%Y%m%d").date()
    trips = feed.trips
    on_date = trips["service_id"].isin(set(feed.get_active_services(day)))
    if not on_date.any():
        raise FileRefused("no_service", f"{path.name}: no trip runs on {date.isoformat()} "
                                        "(give a --service-date inside the feed's calendar)")
    yesterday = set(feed.get_active_services((date - _dt.timedelta(days=1)).strftime("%Y%m%d")))
    routes = _named_routes(feed.routes)
    t = _trip_table(trips, routes)
    calls = _calls(feed.stop_times)
    trip_today = calls["trip_id"].isin(t.loc[on_date, "trip_id"]).to_numpy()
    trip_yesterday = calls["trip_id"].isin(t.loc[trips["service_id"].isin(yesterday), "trip_id"]).to_numpy()
    in_peak_today, in_peak_late = _in_peak(calls["secs"].to_numpy(float), trip_today, trip_yesterday)
    boardable = calls["boardable"].to_numpy(bool)
    peak = boardable & (in_peak_today | in_peak_late)
    deps = _peak_departures(calls.loc[peak, ["trip_id", "stop_id"]], t)
    stops = _stop_table(feed.stops, calls, t, boardable & trip_today)
    counts = {
        "agencies": 0 if feed.agency is None else len(feed.agency),
        "routes": len(routes), "trips": len(trips), "trips_on_date": int(on_date.sum()),
        "stop_times": len(calls), "stops_in_feed": len(stops), "peak_calls": int(peak.sum()),
        "peak_calls_after_midnight": int((boardable & in_peak_late).sum()),
        "untimed_calls": int(np.isnan(calls["secs"].to_numpy(float)).sum()),
    }
    links = ride_links(calls.loc[peak, ["trip_id", "stop_id", "seq", "secs"]], calls, t[["trip_id", "route_id"]])
    return Timetable(stops, deps, links, date, chosen, counts, _notes(date, chosen, counts))


def _complete_feed(data: bytes, path: Path) -> Any:
    """Return the feed of a GTFS zip that holds every table departures are counted from, or refuse it."""
    names = _members(data) or set()
    missing = [n for n in REQUIRED if n not in names]
    if not names & set(_CALENDARS):
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        raise FileRefused("incomplete_gtfs", f"{path.name}: a GTFS feed without {', '.join(missing)}: "
                                             "departures cannot be counted")
    feed = _read_feed(data, path)
    for table in ("stops", "routes", "trips", "stop_times"):
        if getattr(feed, table) is None or getattr(feed, table).empty:
            raise FileRefused("incomplete_gtfs", f"{path.name}: the feed's {table}.txt has no rows")
    return feed


def _service_day(feed: Any, path: Path, service_date: _dt.date | str | None) -> tuple[str, str]:
    """Return the service date (``YYYYMMDD``) and how it was chosen: given, or the busiest weekday."""
    if service_date is not None:
        given = service_date if isinstance(service_date, _dt.date) else _dt.date.fromisoformat(str(service_date))
        return given.strftime("%Y%m%d"), "given"
    day = busiest_weekday(feed)
    if day is None:
        raise FileRefused("no_service", f"{path.name}: no weekday on which any trip runs (calendar empty?)")
    return day, "busiest weekday"


def _named_routes(routes: pd.DataFrame) -> pd.DataFrame:
    """Return the routes with their PTAL mode and a name (short, else long, else the id)."""
    routes = routes.copy()
    routes["mode"] = routes["route_type"].map(mode_of_route_type)
    name = routes.get("route_short_name")
    long = routes.get("route_long_name")
    routes["route_name"] = (name if name is not None else pd.Series(pd.NA, index=routes.index)) \
        .astype("string").fillna(long.astype("string") if long is not None else pd.NA) \
        .fillna(routes["route_id"].astype("string"))
    return routes


def _trip_table(trips: pd.DataFrame, routes: pd.DataFrame) -> pd.DataFrame:
    """Return each trip with its route's name and mode and its direction (-1 where none is given)."""
    trip_cols = ["trip_id", "route_id", "service_id"] + (["direction_id"] if "direction_id" in trips else [])
    t = trips[trip_cols].merge(routes[["route_id", "route_name", "mode"]], on="route_id", how="left")
    t["mode"] = t["mode"].fillna("bus")
    t["route_name"] = t["route_name"].fillna(t["route_id"].astype("string"))
    t["direction_id"] = pd.to_numeric(t["direction_id"], errors="coerce").fillna(-1).astype(int) \
        if "direction_id" in t else -1
    return t


def _calls(stop_times: pd.DataFrame) -> pd.DataFrame:
    """Return the stop times with each call's sequence, time and whether one may board there.

    ``seq``, ``secs`` (departure, else arrival) and ``boardable`` (not a trip's last call, not
    marked no pickup).
    """
    cols = ["trip_id", "stop_id", "stop_sequence", "departure_time"] + \
        [c for c in ("pickup_type", "drop_off_type", "arrival_time") if c in stop_times]
    st = stop_times[cols]
    secs = seconds(st["departure_time"])
    if "arrival_time" in st:  # a call gives one of the two times at least
        secs = np.where(np.isnan(secs), seconds(st["arrival_time"]), secs)
    seq = pd.to_numeric(st["stop_sequence"], errors="coerce").to_numpy(float)
    last = pd.Series(seq).groupby(st["trip_id"].to_numpy()).transform("max").to_numpy(float) == seq
    no_pickup = (pd.to_numeric(st["pickup_type"], errors="coerce").fillna(0).to_numpy() == 1) \
        if "pickup_type" in st else np.zeros(len(st), dtype=bool)
    return st.assign(seq=seq, secs=secs, boardable=~last & ~no_pickup)


def _in_peak(secs: np.ndarray, trip_today: np.ndarray, trip_yesterday: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return which calls fall in the peak: of the day's trips, and of the day before's trips past 24:00."""
    from gtfs_kit.helpers import timestr_to_seconds

    start, end = float(timestr_to_seconds(PEAK[0])), float(timestr_to_seconds(PEAK[1]))
    day_s = 24 * 3600.0
    return (trip_today & (secs >= start) & (secs < end),
            trip_yesterday & (secs >= start + day_s) & (secs < end + day_s))


def _peak_departures(peak_calls: pd.DataFrame, t: pd.DataFrame) -> pd.DataFrame:
    """Return the peak's departures per stop, route and direction."""
    calls = peak_calls.merge(t[["trip_id", "route_id", "route_name", "mode", "direction_id"]], on="trip_id")
    deps = (calls.groupby(["stop_id", "route_id", "direction_id"], sort=True)
            .agg(route_name=("route_name", "first"), mode=("mode", "first"), departures=("trip_id", "size"))
            .reset_index())
    deps = deps[["stop_id", "route_id", "route_name", "mode", "direction_id", "departures"]]
    deps["route_name"] = deps["route_name"].astype(str)
    return deps


def _stop_table(stops: pd.DataFrame, calls: pd.DataFrame, t: pd.DataFrame, boarded_today: np.ndarray) -> pd.DataFrame:
    """Return each stop with its mode and the departures of the whole service date.

    A stop's mode is that of the routes calling there on any day (the fastest mode wins).
    """
    calls_any = calls[["trip_id", "stop_id"]].merge(t[["trip_id", "mode"]], on="trip_id")
    rank = {"rail": 0, "metro": 1, "tram": 2, "ferry": 3, "bus": 4}
    stop_mode = calls_any.assign(r=calls_any["mode"].map(rank)).groupby("stop_id")["r"].min() \
        .map({v: k for k, v in rank.items()})
    day_deps = calls.loc[boarded_today, "stop_id"].value_counts()
    stops = stops.reset_index(drop=True).copy()
    stops["row_number"] = np.arange(1, len(stops) + 1)
    raw_cols = [c for c in ("stop_id", "stop_code", "stop_name", "stop_lat", "stop_lon", "location_type",
                            "parent_station") if c in stops]
    stops["raw"] = stops[raw_cols].astype("string").fillna("").to_dict("records")
    stops["lat"] = pd.to_numeric(stops["stop_lat"], errors="coerce")
    stops["lon"] = pd.to_numeric(stops["stop_lon"], errors="coerce")
    stops["name"] = stops["stop_name"].astype("string") if "stop_name" in stops else pd.NA
    stops["mode"] = stops["stop_id"].map(stop_mode)
    stops["called"] = stops["mode"].notna()
    stops["departures"] = stops["stop_id"].map(day_deps).fillna(0).astype(int)
    return stops[["stop_id", "name", "lat", "lon", "mode", "called", "departures", "row_number", "raw"]]


def _notes(date: _dt.date, chosen: str, counts: dict[str, int]) -> list[str]:
    """Return what the timetable's counts mean, in sentences for the ingest's note."""
    n_trips = counts["trips"]
    notes = [f"service date {date.isoformat()} ({chosen}, {date.strftime('%A')}): "
             f"{counts['trips_on_date']:,} of {n_trips:,} trips run"]
    not_running = n_trips - counts["trips_on_date"]
    if not_running:
        notes.append(f"{not_running:,} trips do not run that day (their services end before it, start after it "
                     "or skip that weekday)")
    notes.append(f"{counts['peak_calls']:,} boardable calls in {PEAK[0][:5]}-{PEAK[1][:5]}")
    if counts["peak_calls_after_midnight"]:
        notes.append(f"{counts['peak_calls_after_midnight']:,} of them by the day before's trips past 24:00")
    if counts["untimed_calls"]:
        notes.append(f"{counts['untimed_calls']:,} of {counts['stop_times']:,} stop times have no time and are "
                     "not counted")
    return notes


def ride_links(boarded: pd.DataFrame, calls: pd.DataFrame, trips: pd.DataFrame,
               max_ride_min: float | None = None) -> pd.DataFrame:
    """Return every ride of one trip from a peak boarding to a later call within ``max_ride_min``.

    Every ride of one trip from a peak boarding (``boarded``: ``trip_id, stop_id, seq, secs``) to a later call
    of the same trip where one may alight (``calls``, with ``drop_off_type``) within ``max_ride_min``: per route
    and pair of stops, the quickest ride and how many of the peak's trips make it.
    """
    from assetmap.settings import settings

    limit = 60.0 * (settings.bus_ride_max_min if max_ride_min is None else max_ride_min)
    cols = ["route_id", "from_stop", "to_stop", "ride_min", "departures"]
    if boarded.empty:
        return pd.DataFrame(columns=cols)
    later = calls[calls["trip_id"].isin(boarded["trip_id"].unique())]
    if "drop_off_type" in later:
        later = later[pd.to_numeric(later["drop_off_type"], errors="coerce").fillna(0).to_numpy() != 1]
    later = later[["trip_id", "stop_id", "seq", "secs"]]
    j = boarded.merge(later, on="trip_id", suffixes=("", "_to"))
    ride = j["secs_to"].to_numpy(float) - j["secs"].to_numpy(float)
    j = j[(j["seq_to"].to_numpy(float) > j["seq"].to_numpy(float)) & (ride >= 0) & (ride <= limit)
          & (j["stop_id_to"] != j["stop_id"]).to_numpy()]
    j = j.assign(ride_min=(j["secs_to"] - j["secs"]) / 60.0).merge(trips, on="trip_id")
    out = (j.groupby(["route_id", "stop_id", "stop_id_to"], sort=True)
           .agg(ride_min=("ride_min", "min"), departures=("trip_id", "nunique")).reset_index()
           .rename(columns={"stop_id": "from_stop", "stop_id_to": "to_stop"}))
    return out[cols]
