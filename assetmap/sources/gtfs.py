"""GTFS timetable feeds (a zip): bus and rail stops, and their departures in the morning peak.

Read with gtfs-kit (:mod:`assetmap.transit.gtfs`); one feed per store, a new feed replaces the
last. Every row of ``stops.txt`` is stored or quarantined with a reason:

- ``bad_coordinates``: no latitude/longitude, or not in the UK;
- ``no_service``: no trip calls there on any day (a station's parent entry, or a stop of a
  national stops file that this feed's trips never use);
- ``outside_study_area``: farther than ``settings.transit_buffer_m`` beyond the loaded boundaries
  (where boundaries are loaded; otherwise every stop some trip calls at is kept).

The service date is ``--service-date`` or the feed's busiest weekday; the ingest's note says which,
with the trips, calls and stops it counted.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from pyproj import Transformer

from assetmap.settings import DISPLAY_CRS, STORE_CRS, settings
from assetmap.sources._io import ReadResult, quarantine_row, sha256_bytes
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS

KIND = "gtfs"


def read(path: Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    from assetmap.transit.gtfs import read_timetable

    tt = read_timetable(data, path, options.get("service_date"))
    stops = tt.stops
    quarantine: list[dict[str, Any]] = []
    lo_lon, lo_lat, hi_lon, hi_lat = settings.uk_bounds
    lat, lon = stops["lat"].to_numpy(float), stops["lon"].to_numpy(float)
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (lat >= lo_lat) & (lat <= hi_lat) & (lon >= lo_lon)
            & (lon <= hi_lon))
    for r in stops[bad].itertuples():
        quarantine.append(quarantine_row(int(r.row_number), r.raw, "bad_coordinates",
                                         f"stop {r.stop_id}: no latitude/longitude in the UK"))
    unused = ~bad & ~stops["called"].to_numpy(bool)
    if unused.any():
        for r in stops[unused].itertuples():
            quarantine.append(quarantine_row(int(r.row_number), r.raw, "no_service",
                                             f"stop {r.stop_id}: no trip of this feed calls there"))
    kept = stops[~bad & ~unused].copy()
    x, y = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True).transform(
        kept["lon"].to_numpy(float), kept["lat"].to_numpy(float))
    kept["x"], kept["y"] = np.asarray(x, float), np.asarray(y, float)
    meta = {"sha256": sha256_bytes(data), "timetable": tt}
    return ReadResult(KIND, kept.reset_index(drop=True), quarantine, len(stops), meta)


def _study_box(con: duckdb.DuckDBPyConnection) -> tuple[float, float, float, float] | None:
    row = con.execute("SELECT min(ST_XMin(geom)), min(ST_YMin(geom)), max(ST_XMax(geom)), max(ST_YMax(geom)) "
                      "FROM areas").fetchone()
    if row is None or row[0] is None:
        return None
    b = settings.transit_buffer_m
    return row[0] - b, row[1] - b, row[2] + b, row[3] + b


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    tt = result.meta["timetable"]
    stops = result.frame
    quarantine = list(result.quarantine)
    box = _study_box(con)
    if box is not None and not stops.empty:
        x, y = stops["x"].to_numpy(float), stops["y"].to_numpy(float)
        inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        for r in stops[~inside].itertuples():
            quarantine.append(quarantine_row(
                int(r.row_number), r.raw, "outside_study_area",
                f"stop {r.stop_id}: more than {settings.transit_buffer_m:,.0f} m beyond the loaded boundaries"))
        stops = stops[inside]
    deps = tt.departures[tt.departures["stop_id"].isin(stops["stop_id"])]
    kept_ids = set(stops["stop_id"])
    links = tt.links[tt.links["from_stop"].isin(kept_ids) & tt.links["to_stop"].isin(kept_ids)]
    for table in ("transit_departures", "transit_stops", "transit_info", "transit_links"):
        con.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
    con.register("_stops", stops[["stop_id", "name", "mode", "x", "y", "departures"]])
    con.register("_deps", deps)
    con.register("_links", links)
    try:
        con.execute("INSERT INTO transit_stops SELECT stop_id, name, mode, x, y, departures FROM _stops")
        con.execute("INSERT INTO transit_departures SELECT stop_id, route_id, route_name, mode, direction_id, "
                    "departures FROM _deps")
        con.execute("INSERT INTO transit_links SELECT route_id, from_stop, to_stop, ride_min, departures FROM _links")
    finally:
        con.unregister("_stops")
        con.unregister("_deps")
        con.unregister("_links")
    kept_note = f"{len(stops):,} of {tt.counts['stops_in_feed']:,} stops kept"
    if box is None:
        kept_note += " (no boundaries loaded: every stop a trip calls at)"
    note = "timetable: " + "; ".join([*tt.notes, kept_note])
    from assetmap.transit.ptal import PEAK

    c = tt.counts
    con.execute(
        """INSERT INTO transit_info (ingest_id, source, sha256, service_date, date_chosen, peak_start, peak_end,
                                     agencies, routes, trips, trips_on_date, stop_times, stops_in_feed, stops_kept,
                                     peak_calls, note, loaded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [ingest_id, source, result.meta["sha256"], tt.service_date, tt.date_chosen, PEAK[0], PEAK[1],
         c["agencies"], c["routes"], c["trips"], c["trips_on_date"], c["stop_times"], c["stops_in_feed"],
         len(stops), c["peak_calls"], note, _dt.datetime.now(_dt.UTC).replace(tzinfo=None)])
    return Written(len(stops), quarantine, [], 0, note)


READER = Reader(
    KIND, KINDS[KIND], read, write,
    tables=("transit_stops", "transit_departures", "transit_info", "transit_links"), rank=4,
    binary=lambda data, path: _looks_like_gtfs(data, path))


def _looks_like_gtfs(data: bytes, path: Path) -> bool:
    from assetmap.transit.gtfs import looks_like_gtfs

    return looks_like_gtfs(data, path)
