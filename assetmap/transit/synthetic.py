"""A SYNTHETIC GTFS feed for the demo city: a few bus routes and one rail line.

Nothing here is a real timetable. Bus routes make a grid over the city, 1.2 km apart, on either
side of the river; only the two routes over the bridges (:func:`assetmap.network.synthetic.bridges_x`)
cross it. Near the centre a bus comes every 6 minutes, at the edge once an hour; a railway line
with a station every 2.6 km runs east-west. Weekday buses run from 06:00 to after midnight (times
past 24:00, as real feeds write them); a Sunday service runs less often. Written as a zip in the
GTFS layout (agency, stops, routes, trips, stop_times, calendar, calendar_dates).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
from pyproj import Transformer
from shapely.geometry import LineString, Polygon

from assetmap.network.synthetic import bridges_x, river_y
from assetmap.settings import DISPLAY_CRS, STORE_CRS

#: Distance between neighbouring bus routes (metres): a grid of them, as a city's network looks
#: from above; stops every 400 m; trains every 2,600 m.
_ROUTE_SPACING = 1200.0
#: A demo bus route shorter than this is not run.
_SHORTEST_ROUTE_M = 1500.0
#: Buses per hour by the route's middle's distance from the centre (metres): (within, buses); 1 beyond.
_BUSES_PER_HOUR = ((4000, 10), (7000, 6), (10000, 3))
#: GTFS ``route_type`` of rail.
_RAIL = 2
_STOP_SPACING = {3: 400.0, 2: 2600.0}
_SPEED_M_PER_MIN = {3: 300.0, 2: 900.0}


def _sides(bounds: tuple[float, float, float, float]) -> tuple[Polygon, Polygon]:
    """Return the city north and south of the river."""
    minx, miny, maxx, maxy = bounds
    xs = np.linspace(minx - 10.0, maxx + 10.0, 400)
    ry = river_y(xs, bounds)
    bank = list(zip(xs, ry, strict=True))
    north = Polygon([*bank, (maxx + 10.0, maxy + 10.0), (minx - 10.0, maxy + 10.0)])
    south = Polygon([*bank, (maxx + 10.0, miny - 10.0), (minx - 10.0, miny - 10.0)])
    return north, south


def _longest(geom: object) -> LineString | None:
    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, LineString) and not g.is_empty]
    return max(parts, key=lambda g: g.length) if parts else None


def _route_lines(region: Polygon) -> list[tuple[str, int, int, LineString]]:
    """(name, route_type, weekday departures an hour each way, line) of every route.

    East-west and north-south buses on either side of the river (only the two bridges' routes cross it), more
    often near the centre; and the railway.
    """
    bounds = region.bounds
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    inner = region.buffer(-100.0)
    north, south = _sides(bounds)
    bridges = bridges_x(bounds)
    out: list[tuple[str, int, int, LineString]] = []

    def add(line: LineString | None, name: str) -> None:
        if line is None or line.length < _SHORTEST_ROUTE_M:
            return
        mid = line.interpolate(0.5, normalized=True)
        r = float(np.hypot(mid.x - cx, mid.y - cy))
        per_hour = next((n for within, n in _BUSES_PER_HOUR if r < within), 1)
        out.append((name, 3, per_hour, line))

    for k, y in enumerate(np.arange(miny + 800.0, maxy, _ROUTE_SPACING)):
        full = LineString([(minx, y), (maxx, y)]).intersection(inner)
        for side, tag in ((north, "N"), (south, "S")):
            add(_longest(full.intersection(side)), f"{10 + k}{tag}")
    for k, x in enumerate(np.arange(minx + 800.0, maxx, _ROUTE_SPACING)):
        full = LineString([(x, miny), (x, maxy)]).intersection(inner)
        for side, tag in ((north, "N"), (south, "S")):
            add(_longest(full.intersection(side)), f"{40 + k}{tag}")
    for k, bx in enumerate(bridges, start=1):  # over the bridges: the busiest routes
        line = _longest(LineString([(bx, miny), (bx, maxy)]).intersection(inner))
        if line is not None:
            out.append((str(k), 3, 12, line))
    rail = _longest(LineString([(minx, cy + 200.0), (maxx, cy + 200.0)]).intersection(inner))
    if rail is not None:
        out.append(("Demoford Line", 2, 4, rail))
    return out


def _rows(writer: csv.DictWriter[str], rows: list[dict[str, object]]) -> None:
    writer.writeheader()
    writer.writerows(rows)


_STOP_TIMES = ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"]


def _hms(minutes: float) -> str:
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}:00"


def write_gtfs(path: Path, region: Polygon) -> Path:
    """Write the demo's timetable to ``path`` (a GTFS zip) and return it."""
    to_lonlat = Transformer.from_crs(STORE_CRS, DISPLAY_CRS, always_xy=True)
    stops: list[dict[str, object]] = []
    routes: list[dict[str, object]] = []
    trips: list[dict[str, object]] = []
    times: list[tuple[object, ...]] = []  # rows of stop_times.txt (hundreds of thousands: tuples, not dicts)
    for r_idx, (name, rtype, per_hour, line) in enumerate(_route_lines(region), start=1):
        n = max(2, int(line.length // _STOP_SPACING[rtype]) + 1)
        pts = [line.interpolate(d) for d in np.linspace(0.0, line.length, n)]
        ids = []
        for k, p in enumerate(pts):
            lon, lat = to_lonlat.transform(p.x, p.y)
            sid = f"DF{r_idx:02d}{k:03d}"
            kind = "station" if rtype == _RAIL else "stop"
            stops.append({"stop_id": sid, "stop_name": f"Demoford {name} {kind} {k + 1} (synthetic)",
                          "stop_lat": f"{lat:.6f}", "stop_lon": f"{lon:.6f}"})
            ids.append(sid)
        route_id = f"R{r_idx}"
        routes.append({"route_id": route_id, "agency_id": "DFT", "route_short_name": name,
                       "route_long_name": f"{name} (synthetic)", "route_type": rtype})
        hop = _STOP_SPACING[rtype] / _SPEED_M_PER_MIN[rtype]
        for service, hourly, first, last in (("WEEKDAY", per_hour, 6 * 60.0, 24 * 60.0 + 31),
                                             ("SUNDAY", max(1, per_hour // 2), 8 * 60.0, 20 * 60.0)):
            headway = 60.0 / hourly
            starts = np.arange(first, last, headway)  # on weekdays the last ones run past midnight
            for direction in (0, 1):
                order = ids if direction == 0 else ids[::-1]
                for t_idx, t0 in enumerate(starts.tolist()):  # Python floats: round() on numpy's is slow
                    trip_id = f"{route_id}-{service}-{direction}-{t_idx:03d}"
                    trips.append({"route_id": route_id, "service_id": service, "trip_id": trip_id,
                                  "direction_id": direction})
                    for seq, sid in enumerate(order, start=1):
                        t = _hms(t0 + (seq - 1) * hop)
                        times.append((trip_id, t, t, sid, seq))
    calendar = [
        {"service_id": "WEEKDAY", "monday": 1, "tuesday": 1, "wednesday": 1, "thursday": 1, "friday": 1,
         "saturday": 0, "sunday": 0, "start_date": "20260105", "end_date": "20271231"},
        {"service_id": "SUNDAY", "monday": 0, "tuesday": 0, "wednesday": 0, "thursday": 0, "friday": 0,
         "saturday": 0, "sunday": 1, "start_date": "20260105", "end_date": "20271231"},
    ]
    # Christmas Day runs the Sunday service
    exceptions = [{"service_id": "WEEKDAY", "date": "20261225", "exception_type": 2},
                  {"service_id": "SUNDAY", "date": "20261225", "exception_type": 1}]
    tables: dict[str, list[dict[str, object]] | tuple[list[str], list[tuple[object, ...]]]] = {
        "agency.txt": [{"agency_id": "DFT", "agency_name": "Demoford Transport (synthetic)",
                        "agency_url": "https://example.invalid/", "agency_timezone": "Europe/London"}],
        "stops.txt": stops, "routes.txt": routes, "trips.txt": trips, "stop_times.txt": (_STOP_TIMES, times),
        "calendar.txt": calendar, "calendar_dates.txt": exceptions,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, rows in tables.items():
            buf = io.StringIO()
            if isinstance(rows, tuple):
                header, tuples = rows
                plain = csv.writer(buf, lineterminator="\n")
                plain.writerow(header)
                plain.writerows(tuples)
            else:
                _rows(csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n"), rows)
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # the same seed, the same bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
    return path
