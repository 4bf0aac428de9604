"""The ``assetmap`` command line.

Exit status: 0 when every file was taken (quarantined rows included), 2 when a file was
refused as a whole or the command's input is wrong, 1 on an unexpected error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    from assetmap.settings import settings
except ValueError as _exc:  # a bad ASSETMAP_* variable: say which, without a traceback
    sys.stderr.write(f"assetmap: {_exc}\n")
    raise SystemExit(2) from None

from assetmap import up_options

if TYPE_CHECKING:  # the CLI imports its heavy modules only when a command needs them
    import pandas as pd

    from assetmap.store import Store

log = logging.getLogger("assetmap")


def _out(text: str = "") -> None:
    """Write a line of the command's result to standard output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _iso_date(text: str) -> str:
    """An option's date, checked (``2025-09-30``)."""
    import datetime as _dt

    try:
        return _dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _store(args: argparse.Namespace, read_only: bool = False) -> Store:
    """The working store; for a reader, the latest snapshot when a pipeline holds the store."""
    from assetmap.store import Store, StoreBusy, open_store

    if not read_only:
        return open_store(args.db)
    try:
        return open_store(args.db, read_only=True)
    except StoreBusy as exc:
        from assetmap.snapshots import open_snapshot

        path = args.db or settings.db_path
        log.warning("the store is busy (%s); reading the latest published snapshot", str(exc).split("\n")[0])
        from assetmap.store import require_schema

        con = open_snapshot(path)
        require_schema(con, path, snapshot=True)
        return Store.over(con, path)


# ---------------------------------------------------------------------------------------
def _progress() -> Any:
    """One progress bar on standard error, drawn only on a terminal and gone when done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal)


@contextlib.contextmanager
def _bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar as a ``progress(done, total, what)`` callback."""
    with _progress() as bar:
        task = bar.add_task(description, total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{description} {what}"[:70])

        yield progress


def cmd_ingest(args: argparse.Namespace) -> int:
    from assetmap.ingest import expand_paths, ingest_file

    options: dict[str, Any] = {k: v for k, v in {
        "kind": args.kind, "mapping": args.map or None, "category": args.category,
        "source": args.source, "vintage": args.vintage, "licence": args.licence,
        "level": args.level, "code_field": args.code_field, "variable": args.variable,
        "effective": args.effective, "closes_missing": args.closes_missing, "service_date": args.service_date,
    }.items() if v}
    files = expand_paths(args.paths, options)
    if not files:
        log.error("no files found in %s", " ".join(args.paths))
        return 2
    results = []
    with _store(args) as store, _progress() as bar:
        task = bar.add_task("ingesting", total=len(files))
        for f in files:
            def say(msg: str) -> None:
                bar.update(task, description=msg[:70])

            results.append(ingest_file(store, f, progress=say, **options))
            bar.advance(task)
    if args.json:
        _out(json.dumps([r.as_dict() for r in results], indent=2, default=str))
    else:
        for r in results:
            if r.status == "refused":
                msg = r.message[len(r.path) + 2:] if r.message.startswith(r.path + ": ") else r.message
                _out(f"REFUSED  {r.path}: {msg}")
            elif r.status == "unchanged":
                _out(f"unchanged {r.path}: {r.message}")
            else:
                _out(f"ingested {r.path} as #{r.ingest_id} ({r.kind}): read {r.rows_read}, "
                     f"accepted {r.rows_accepted}, quarantined {r.rows_quarantined}")
                if r.kind == "network":  # what the streets came to (the message's first part)
                    _out(f"         {r.message.split('; ')[0]}")
                if r.rows_quarantined:
                    _out(f"         see: assetmap quarantine --ingest {r.ingest_id}")
    return 2 if any(r.status == "refused" for r in results) else 0


def cmd_status(args: argparse.Namespace) -> int:
    import duckdb

    from assetmap.snapshots import list_snapshots, open_snapshot
    from assetmap.store import Store, StoreError

    path = Path(args.db or settings.db_path)
    status: dict[str, Any] = {"db": str(path), "source": "store", "tables": {}, "ingests": [],
                              "schema_version": 0, "extent": None, "network": None, "timetable": None}
    if path.exists():
        try:
            # read-only: never wait for, or block, a pipeline that is writing
            with Store(path, read_only=True) as store:
                status.update(store.status())
        except (duckdb.IOException, StoreError):  # StoreBusy: a pipeline holds it
            # the pipeline holds the working store: report its latest published snapshot
            try:
                con = open_snapshot(path)
            except StoreError as exc:
                log.error("the store is busy and no snapshot is published yet: %s", exc)
                return 2
            try:
                status.update(Store.over(con, path).status())
            finally:
                con.close()
            status["source"] = "latest snapshot (the working store is busy)"
    status["db"] = str(path)
    status["snapshots"] = list_snapshots(path)
    if args.json:
        _out(json.dumps(status, indent=2, default=str))
        return 0
    _out(f"store: {status['db']} (schema version {status['schema_version']})")
    for name, n in status["tables"].items():
        _out(f"  {name:<18} {n:>10,}")
    if status["extent"]:
        _out("  extent (lon/lat): " + ", ".join(f"{v:.4f}" for v in status["extent"]))
    net = status.get("network")
    _out(f"  access: on foot along {net['source']} (OpenStreetMap of {str(net['osm_timestamp'] or '?')[:10]}: "
         f"{net['nodes']:,} nodes, {net['edges']:,} edges) at {net['walk_speed_kmh']} km/h"
         + (f", an authority at a time ({net['authorities']:,} authorities, each with {net['buffer_m']:,.0f} m "
            "around it)" if net.get("authorities", 1) > 1 else "") if net else
         "  access: as the crow flies (no walking network: `assetmap ingest PLACE.osm.pbf` loads one)")
    tt = status.get("timetable")
    _out(f"  bus and rail access (PTAL): {tt['source']}, departures of {tt['service_date']} ({tt['date_chosen']}): "
         f"{tt['routes']:,} routes, {tt['trips_on_date']:,} trips that day, {tt['stops_kept']:,} stops" if tt else
         "  bus and rail access (PTAL): no timetable (`assetmap ingest FEED.zip` loads a GTFS feed)")
    if status["snapshots"]:
        latest = next((x for x in status["snapshots"] if x.get("latest")), status["snapshots"][0])
        _out(f"  snapshots: {len(status['snapshots'])} kept, latest {latest['snapshot_id']}")
    if status["ingests"]:
        _out("last ingests:")
        for r in status["ingests"][-10:]:
            _out(f"  #{r['ingest_id']:<4} {r['status']:<9} {r['kind'] or '-':<12} read {r['rows_read']:>8,} "
                 f"accepted {r['rows_accepted']:>8,} quarantined {r['rows_quarantined']:>6,}  {r['path']}")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from assetmap import queries

    with _store(args) as store:
        rows = queries.quarantine_rows(store.con, args.ingest, args.reason or None, args.limit)
        reasons = queries.quarantine_reasons(store.con, args.ingest)
        summary = reasons.groupby("reason_code", sort=False)["rows"].sum().sort_values(ascending=False)
    if args.json:
        _out(json.dumps({"summary": {k: int(v) for k, v in summary.items()}, "rows": rows}, indent=2, default=str))
        return 0
    for code, n in summary.items():
        _out(f"{code:<24} {n:>8,}")
    for r in rows:
        _out(f"#{r['ingest_id']} {r['reason_code']:<22} {r['message']}")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from assetmap.demo import generate

    paths = generate(args.out, scale=args.scale, seed=args.seed)
    for p in paths:
        _out(str(p))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from assetmap.export import export_layer

    out = args.out or f"{args.layer}.{'json' if args.format == 'openreferral' else args.format}"
    with _store(args) as store:
        n = export_layer(store, args.layer, args.format, out, partner=args.partner, oruk_version=args.oruk_version)
    _out(f"wrote {n} features of {args.layer} to {out}")
    return 0


def _up_worker_alive() -> bool:
    """Whether `assetmap up` is running over this home: its worker's pid file names a live process."""
    ready = Path(settings.home) / "worker.ready"
    try:
        pid = int(ready.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def cmd_fetch(args: argparse.Namespace) -> int:
    from assetmap import fetch as fetchmod

    # a directory's API alone (--url, no authority named) is a fetch of that directory only
    alone = args.url and not args.what and not args.la and not args.region
    what = [w.strip() for w in (args.what or ("openreferral" if alone else ",".join(fetchmod.DEFAULT_WHAT)))
            .split(",") if w.strip()]
    if "all" in what:
        what = list(fetchmod.WHAT)
    try:
        if args.gtfs and "gtfs" not in what:
            what.append("gtfs")
        if args.url and "openreferral" not in what:
            what.append("openreferral")
        with _bar("fetching") as progress:
            result = fetchmod.fetch(args.la or [], Path(args.into) if args.into else None, what=what,
                                    refresh=args.refresh, gtfs=args.gtfs, region=args.region, progress=progress,
                                    url=args.url)
    except fetchmod.Unreachable as exc:
        log.error("%s", exc)
        return 3
    except fetchmod.FetchError as exc:
        log.error("%s", exc)
        return 2
    names = ", ".join(f"{n} ({c})" for c, n in result.las)
    if result.region:
        names = f"{result.region}, {len(result.las)} authorities: {names}"
    if args.url:
        names = f"{names} and {args.url}" if names else args.url
    for kind, files in result.files.items():
        for f in files:
            _out(f"fetched {kind:<10} {f}")
    for line in result.problems:
        log.error("%s", line)
    if not result.files:
        return 3 if result.unreachable else 2
    _out(f"{names}: {sum(len(v) for v in result.files.values())} files in {result.folder} "
         "(sources and licences in SOURCES.json)")
    if args.ingest:
        if _up_worker_alive():  # hand them to the running pipeline, as a user dropping them would
            import shutil

            inbox = Path(settings.inbox_dir)
            for files in result.files.values():
                for f in files:
                    tmp = inbox / f".{f.name}.part"
                    shutil.copyfile(f, tmp)
                    os.replace(tmp, inbox / f.name)
            _out(f"handed to the running pipeline through {inbox}: it ingests them in dependency order, "
                 "recomputes and publishes")
        else:
            from assetmap.analysis import recompute
            from assetmap.ingest import ingest_paths
            from assetmap.snapshots import publish

            with _store(args) as store:
                results = ingest_paths(store, [result.folder])
                for r in results:
                    _out(f"{'REFUSED ' if r.status == 'refused' else ''}{r.status:<9} {Path(r.path).name}: "
                         f"{r.message}")
                res = recompute(store)
                what_for = result.region or ", ".join(c for c, _ in result.las) or args.url
                snap = publish(store, reason=f"fetch {what_for}")
            _out(f"{res.mode} recompute: {res.units:,} units, {res.oas:,} OAs; snapshot {snap.snapshot_id}")
            if any(r.status == "refused" for r in results):
                return 2
    return 3 if result.unreachable else (2 if result.problems else 0)


def _gaps_then_and_now(args: argparse.Namespace) -> int:
    from assetmap import queries

    with _store(args, read_only=True) as store:
        level = _level(store, args.by)
        when = _moment(store, args.as_at)
        frame = queries.gaps_then_and_now(store.con, when, args.category, level)
    if frame.empty:
        log.error("no gaps as at %s: run `assetmap recompute --as-at %s` first", args.as_at, args.as_at)
        return 2
    frame = frame.head(args.top)
    if args.json:
        _out(json.dumps({"as_at": str(when), "category": args.category, "level": level,
                         "units": frame.to_dict("records")}, indent=2, default=str))
        return 0
    _out(f"{'code':<10} {'name':<28} {'gap then':>8} {'gap now':>8} {'change':>7} {'sites then':>10} {'now':>4}")
    for r in frame.itertuples():
        now = "-" if r.gap_now != r.gap_now else f"{r.gap_now:.3f}"
        change = "-" if r.change != r.change else f"{r.change:+.3f}"
        sites_now = "-" if r.sites_now != r.sites_now else f"{r.sites_now:.0f}"
        _out(f"{r.code:<10} {str(r.name or '')[:28]:<28} {r.gap_then:>8.3f} {now:>8} {change:>7} "
             f"{r.sites_then:>10} {sites_now:>4}")
    return 0


def cmd_recompute(args: argparse.Namespace) -> int:
    from assetmap.analysis import recompute, recompute_affected, recompute_as_at

    if args.supply_by_bus:
        settings.supply_by_bus = True
    with _store(args) as store:
        if args.as_at:
            if args.wards or args.changed:
                log.error("--as-at computes every unit as at that date: give it without --changed or --wards")
                return 2
            res = recompute_as_at(store, _moment(store, args.as_at), level=args.by)
        elif args.wards or args.changed:
            res = recompute_affected(store, args.wards or [])
        else:
            res = recompute(store, level=args.by, n_boot=args.bootstrap)
    if args.json:
        _out(json.dumps(res.as_dict(), indent=2))
    else:
        _out(f"{res.mode} recompute at {res.level} level: {res.units:,} units, {res.oas:,} OAs "
             f"in {res.seconds:.2f} s")
        for note in res.notes:
            _out(f"  note: {note}")
    return 0


def _moment(store: Store, text: str, start: bool = False) -> Any:
    """A date (``2019-04-01``: the end of that day; as the ``start`` of a period, just before it
    began) or a snapshot's id (the moment it was published)."""
    import datetime as _dt

    try:
        day = _dt.date.fromisoformat(text.strip())
    except ValueError:
        pass
    else:
        if start:
            return _dt.datetime.combine(day, _dt.time()) - _dt.timedelta(microseconds=1)
        return _dt.datetime.combine(day, _dt.time(23, 59, 59))
    from assetmap.snapshots import list_snapshots

    for snap in list_snapshots(store.path):
        if snap["snapshot_id"] == text.strip() and snap.get("published_at"):
            return _dt.datetime.fromisoformat(snap["published_at"]).astimezone(_dt.UTC).replace(tzinfo=None)
    raise ValueError(f"{text!r} is neither a date (YYYY-MM-DD) nor a snapshot kept beside the store "
                     "(`assetmap status` lists them)")


def cmd_changes(args: argparse.Namespace) -> int:
    from assetmap import queries

    with _store(args, read_only=True) as store:
        start = _moment(store, args.since, start=True) if args.since else None
        end = _moment(store, args.until) if args.until else None
        frame = queries.changes(store.con, start, end, args.category, partner=True)
    by_ward = queries.changes_by_ward(frame)
    if args.json:
        listed = frame.drop(columns=["lat", "lon"]).assign(at=frame["at"].astype(str))
        _out(json.dumps({"from": str(start) if start else None, "to": str(end) if end else None,
                         "category": args.category, "by_ward": by_ward.to_dict("records"),
                         "changes": listed.to_dict("records")}, indent=2, default=str))
        return 0
    if frame.empty:
        _out("no openings, closures or moves in that period")
        return 0
    _out(f"{'ward':<10} {'name':<24} {'category':<17} {'opened':>6} {'reopened':>8} {'moved':>5} "
         f"{'closed':>6} {'net':>4}")
    for r in by_ward.itertuples():
        _out(f"{r.ward_code or '-':<10} {str(r.ward_name or '')[:24]:<24} {r.category:<17} {r.opened:>6} "
             f"{r.reopened:>8} {r.moved:>5} {r.closed:>6} {r.net:>+4}")
    _out("")
    for r in frame.itertuples():
        moved = f" ({r.moved_m:.0f} m)" if r.change == "moved" and r.moved_m == r.moved_m else ""
        _out(f"{str(r.at)[:10]}  {r.change:<8} {r.category:<17} {r.name}{moved}  [{r.ward_code or '-'}]")
    return 0


def _level(store: Store, by: str | None) -> str:
    from assetmap.analysis import default_level

    return by or default_level(store.con)


def cmd_gaps(args: argparse.Namespace) -> int:
    from assetmap import queries

    if args.as_at:
        return _gaps_then_and_now(args)
    with _store(args, read_only=True) as store:
        level = _level(store, args.by)
        recs = queries.unit_gaps(store.con, level, args.category, args.top, args.flagged)
    if not recs:
        log.error("no gaps for %s at %s level: run `assetmap recompute` first", args.category, level)
        return 2
    if args.json:
        _out(json.dumps({"category": args.category, "level": level, "units": recs}, indent=2))
        return 0
    _out(f"{'rank':>4}  {'code':<10} {'name':<28} {'gap':>7} {'need':>6} {'supply':>6}  why")
    for r in recs:
        top = sorted(r["components"], key=lambda c: -abs(c["contribution"]))[:3]
        why = ", ".join(f"{c['component']} {c['contribution']:+.2f}" for c in top)
        flags = f" [{', '.join(r['flags'])}]" if r["flags"] else ""
        _out(f"{r['rank']:>4}  {r['code']:<10} {(r['name'] or '')[:28]:<28} {r['gap']:>7.3f} "
             f"{r['need']:>6.3f} {r['supply']:>6.3f}  {why}{flags}")
    return 0


def _parse_site(text: str) -> tuple[float, float, str, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ValueError(f"--add {text!r}: expected lat,lon,category[,capacity]")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        cap = float(parts[3]) if len(parts) == 4 else 1.0
    except ValueError as exc:
        raise ValueError(f"--add {text!r}: latitude, longitude and capacity must be numbers") from exc
    return lat, lon, parts[2], cap


def cmd_what_if(args: argparse.Namespace) -> int:
    from assetmap.sites import site_from_lat_lon, what_if

    with _store(args, read_only=True) as store:
        sites = [site_from_lat_lon(store.con, *_parse_site(a)) for a in args.add or []]
        df = what_if(store, add=sites, remove=args.remove or [], level=args.by)
    if args.json:
        _out(df.to_json(orient="records", indent=2))
        return 0
    if df.empty:
        _out("no unit's gap would change")
        return 0
    _out(f"{'code':<10} {'category':<18} {'before':>8} {'after':>8} {'change':>8}  rank")
    for r in df.head(args.top).itertuples():
        _out(f"{r.unit_code:<10} {r.category:<18} {r.gap_before:>8.3f} {r.gap_after:>8.3f} "
             f"{r.delta:>+8.3f}  {r.rank_before} -> {r.rank_after}")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from assetmap.sites import suggest_sites

    with _store(args, read_only=True) as store:
        df = suggest_sites(store, args.category, args.k, radius=args.radius)
    if args.json:
        _out(json.dumps({"category": args.category, "k": args.k, "covered_demand": df.attrs.get("total", 0.0),
                         "sites": json.loads(df.to_json(orient="records"))}, indent=2))
        return 0
    _out(f"{len(df)} sites for {args.category} covering {df.attrs.get('total', 0.0):,.0f} residents in need:")
    for r in df.itertuples():
        _out(f"  {r.order}. {r.lat:.5f},{r.lon:.5f}  OA {r.oa_code} unit {r.unit_code}  "
             f"+{r.covered_demand:,.0f}")
    return 0


def cmd_indices(args: argparse.Namespace) -> int:
    from assetmap import queries

    with _store(args, read_only=True) as store:
        if args.compare:
            rows, total = queries.partner_disagreements(store.con, args.tolerance)
            if args.json:
                _out(json.dumps({"tolerance": args.tolerance, "compared": total,
                                 "disagreements": json.loads(rows.to_json(orient="records"))}, indent=2))
                return 0
            _out(f"{len(rows)} of {total} partner values disagree by more than {args.tolerance} "
                 "(or have no computed value):")
            for r in rows.head(args.top).itertuples():
                comp = "none" if r.computed != r.computed else f"{r.computed:.4f}"
                _out(f"  {r.source}: {r.unit_code} {r.focal_group} {r.index_name}: "
                     f"partner {r.partner:.4f}, computed {comp}")
            return 0
        level = _level(store, args.by)
        rows = queries.unit_indices(store.con, level, args.unit, args.focal)
    if args.json:
        _out(rows.to_json(orient="records", indent=2))
    else:
        _out(rows.head(args.top).to_string(index=False))
    return 0


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-ready records: dates as ``YYYY-MM-DD``, missing values as null."""
    dates = {c: str for c in ("period", "first", "last", "date") if c in df}
    return json.loads(df.astype(dates).to_json(orient="records"))


def cmd_dispersal(args: argparse.Namespace) -> int:
    from assetmap import dispersal_trend

    over_time = bool(args.region or args.la or args.since)
    with _store(args, read_only=True) as store:
        if not over_time:
            df = dispersal_trend.review(store.con, period=args.period)
        else:
            region = args.region
            if region and region.lower() not in {r.lower() for r in dispersal_trend.regions(store.con)}:
                known = ", ".join(dispersal_trend.regions(store.con)) or "none loaded"
                raise ValueError(f"no Asy_D11 figures for the region {region!r}; the regions loaded: {known}")
            df = dispersal_trend.trend(store.con, region=region, las=args.la, since=args.since,
                                       current=not args.as_published)
        found = dispersal_trend.breaks(store.con, within=df["period"] if over_time and not df.empty else None)
        moved = dispersal_trend.carried_forward(store.con)
    if over_time and not df.empty:
        merged = {c for cs in df["carried_from"].dropna() for c in cs.split(", ")}
        moved = moved[moved["code"].isin(merged)]
    breaks_json = [{"support_type": b.support_type, "from": str(b.first) if b.first else None,
                    "to": str(b.last) if b.last else None, "note": b.note} for b in found]
    if not over_time:
        if args.json:
            _out(df.to_json(orient="records", indent=2, date_format="iso"))
        else:
            _out(df.to_string(index=False) if not df.empty else "no local authorities with residents loaded")
        return 0
    grown = dispersal_trend.growth(df)
    if args.json:
        _out(json.dumps({"source": dispersal_trend.SOURCE, "region": args.region, "local_authorities": args.la,
                         "from": args.since, "authorities": "as published" if args.as_published else "today's",
                         "trend": _records(df), "growth": _records(grown), "series_breaks": breaks_json,
                         "carried_forward": _records(moved)}, indent=2))
        return 0
    if df.empty:
        _out("no Asy_D11 figures for those authorities and dates")
        return 0
    rates = bool(df["supported_per_10k"].notna().any())
    wide = df.assign(authority=df["la_name"].fillna("") + " (" + df["la_code"] + ")") \
        .pivot_table(index="authority", columns="period", values="supported_per_10k" if rates else "supported",
                     dropna=False).round(1)
    _out(f"Supported asylum seekers per 10,000 residents ({dispersal_trend.SOURCE}):" if rates else
         f"Supported asylum seekers ({dispersal_trend.SOURCE}); no residents are loaded for these authorities, "
         "so these are counts, not rates (load ONS mid-year estimates or the census for rates):")
    _out(wide.to_string())
    _out("")
    _out("Change from the first to the last date, beside ESOL places per 10,000 now:")
    _out(grown.round(1).to_string(index=False))
    bases = sorted(df["residents_basis"].dropna().unique())
    _out(f"\nResidents: {'; '.join(bases) or 'not loaded'}. Suppressed cells: "
         f"{int(df['suppressed_cells'].sum())} (counted as nothing).")
    early = sorted({b for b in df["provision_basis"].dropna() if b.startswith("as first loaded")})
    if df["provision_basis"].notna().any():
        _out("ESOL places and refugee support: the sites open at each date, from their history"
             + (f"; earlier dates take provision {early[0]}" if early else "") + ".")
    for b in found:
        _out(b.said())
    if len(moved):
        _out("On today's authorities (--as-published for the codes as published): "
             + "; ".join(f"{r.name} ({r.code}) in {r.today_name} ({r.today}) from {r.date:%d %b %Y}, "
                         f"{r.reference}" for r in moved.itertuples()) + ".")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    with _store(args) as store:  # opening for writing applies the migrations it lacks
        version = store.schema_version
    _out(f"{store.path}: schema version {version}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from assetmap.snapshots import publish

    with _store(args) as store:
        snap = publish(store, reason=args.reason or "published by hand")
    _out(json.dumps(snap.as_dict(), indent=2) if args.json else f"published {snap.snapshot_id} -> {snap.path}")
    return 0


def cmd_submissions(args: argparse.Namespace) -> int:
    from assetmap.submissions import list_submissions

    with _store(args, read_only=True) as store:
        rows = list_submissions(store, None if args.status == "all" else args.status)
    if args.json:
        _out(json.dumps(rows, indent=2, default=str))
        return 0
    for r in rows:
        p = r["payload"]
        _out(f"{r['submission_id']}  {r['status']:<8} {p.get('category', ''):<18} {p.get('name', '')}"
             + (f"  ({r['reason']})" if r["reason"] else ""))
    if not rows:
        _out(f"no {args.status} submissions")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from assetmap.submissions import approve

    with _store(args) as store:
        d = approve(store, args.id, publish=args.publish)
    _out(f"approved {args.id}: stored as asset {d.asset_id} (ingest #{d.ingest.ingest_id}); wards changed: "
         f"{', '.join(d.ingest.affected_wards) or 'none'}; {d.recomputed_units} units recomputed"
         + (f"; published snapshot {d.snapshot_id}" if d.snapshot_id else ""))
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from assetmap.submissions import reject

    with _store(args) as store:
        reject(store, args.id, args.reason)
    _out(f"rejected {args.id}: {args.reason}")
    return 0


def _split(values: list[str] | None) -> list[str]:
    """Repeated or comma-separated option values, as one list."""
    return [v.strip() for x in values or [] for v in x.split(",") if v.strip()]


def cmd_subscribe(args: argparse.Namespace) -> int:
    from assetmap import alerts

    region_las: list[str] = []
    region = None
    if args.region:
        from assetmap import fetch as fetchmod

        try:
            region, found = fetchmod.resolve_region(
                fetchmod.Client(Path(settings.home) / "cache"), args.region)
        except fetchmod.FetchError as exc:
            log.error("%s (the regions come from the ONS lookup `assetmap fetch --region` caches)", exc)
            return 2
        region_las = [code for code, _name in found]
    with _store(args) as store:
        sub = alerts.subscribe(store, email=args.email, webhook=args.webhook, wards=_split(args.ward),
                               las=_split(args.la), region=region, region_las=region_las,
                               categories=_split(args.category) or None, on=_split(args.on) or alerts.TRIGGERS,
                               threshold=args.threshold, mode=args.mode, role="partner" if args.partner else "public")
    _out(f"subscribed {sub['subscription_id']}: {sub['channel']} {sub['address']}, {len(sub['wards'])} ward(s), "
         f"{len(sub['las'])} authorit{'y' if len(sub['las']) == 1 else 'ies'}, on {','.join(sub['triggers'])}, "
         f"{sub['mode']}, {sub['role']}")
    if sub["channel"] == "webhook":
        _out(f"webhook secret (verify {alerts.SIGNATURE_HEADER} with it; shown once): {sub['secret']}")
    return 0


def cmd_subscriptions(args: argparse.Namespace) -> int:
    from assetmap import alerts

    with _store(args) as store:
        rows = alerts.subscriptions(store.con, store.path, everything=args.all)
    if args.json:
        _out(json.dumps(rows, indent=2, default=str))
        return 0
    for r in rows:
        where = ", ".join([*(r["wards"] or []), *(([r["region"]] if r["region"] else r["las"]) or [])])
        sent = ", ".join(f"{n} {k}" for k, n in sorted(r["deliveries"].items())) or "nothing yet"
        _out(f"{r['subscription_id']}  {r['status']:<12} {r['channel']:<7} {r['address']}  {where}  "
             f"on {','.join(r['triggers'])}  {r['mode']}  {r['role']}  ({sent})")
    if not rows:
        _out("no subscriptions")
    return 0


def cmd_unsubscribe(args: argparse.Namespace) -> int:
    from assetmap import alerts

    with _store(args) as store:
        sub = alerts.unsubscribe(store, args.id)
    _out(f"ended {sub['subscription_id']}")
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    from assetmap import alerts
    from assetmap.store import open_store

    report = alerts.notify(lambda: open_store(args.db), who=f"cli:{os.getpid()}")
    if args.json:
        _out(json.dumps(report.as_dict()))
    else:
        _out(f"{report.planned} message(s) planned, {report.sent} sent, {report.retry} to try again, "
             f"{report.given_up} given up; {report.pending} waiting")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """The main job: hand over to ``pipelines.up`` (Prefect server, flows, watcher, dashboard).

    The process is replaced, so Ctrl-C and SIGTERM reach ``pipelines.up`` directly; the library
    itself never imports Prefect.
    """
    argv = [sys.executable, "-m", "pipelines.up"]
    if getattr(args, "db", None):
        argv += ["--db", args.db]
    argv += up_options.to_argv(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, an argument list)
    return 0  # not reached


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check a deployment's parts (``pipelines.doctor``; nothing there imports Prefect)."""
    from pipelines.doctor import main

    argv = ["--db", args.db] if args.db else []
    argv += ["--api", args.api] if args.api else []
    argv += ["--pool", args.pool] if args.pool else []
    argv += ["--dashboard", args.dashboard] if args.dashboard else []
    argv += ["--no-dashboard"] if args.no_dashboard else []
    argv += ["--json"] if args.json else []
    argv += ["--replica"] if args.replica else []
    return main(argv)


def cmd_worker(args: argparse.Namespace) -> int:
    """A Prefect process worker for the pipeline's work pool: hand over to ``pipelines.worker``."""
    argv = [sys.executable, "-m", "pipelines.worker", "--pool", args.pool, "--limit", str(args.limit),
            "--poll", str(args.poll)]
    argv += ["--name", args.name] if args.name else []
    argv += ["--api", args.api] if args.api else []
    argv += ["--watch"] if args.watch else []
    if args.db:
        os.environ["ASSETMAP_DB"] = args.db
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, an argument list)
    return 0  # not reached


# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from assetmap import __version__
    from assetmap.vocab.exports import FORMATS, LAYERS
    from assetmap.vocab.file_kinds import KINDS

    parser = argparse.ArgumentParser(prog="assetmap", description="Community asset mapping for the UK.")
    parser.add_argument("--version", action="version", version=f"assetmap {__version__}")
    db_help = f"the DuckDB store (default {settings.db_path}; env ASSETMAP_DB)"
    parser.add_argument("--db", default=os.environ.get("ASSETMAP_DB"), help=db_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv: debug)")
    # the global options again, for after the subcommand (`assetmap ingest F --db S`); SUPPRESS keeps
    # a subcommand that does not give them from resetting what was given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more detail (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A subcommand, with the global options after it too."""
        return sub.add_parser(name, parents=[common], **kwargs)

    formats = "\n".join(f"  {k:<13} {description}" for k, description in KINDS.items())
    p = add("ingest", help="ingest files or folders (folders in dependency order)",
            description="Ingest files or folders (folders in dependency order). The format of each file is "
                        "recognised from its content; --kind names it.",
            epilog=f"formats (--kind):\n{formats}", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--kind", choices=list(KINDS), help="skip sniffing: read as this kind")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="map a foreign column to an assetmap field (repeatable; dotted paths for "
                        "nested GeoJSON properties)")
    p.add_argument("--category", help="category for rows that give none")
    p.add_argument("--source", help="source label (default: the file's name)")
    p.add_argument("--vintage", help="census or boundary vintage, e.g. 2021")
    p.add_argument("--variable", help="census variable when the file does not say")
    p.add_argument("--licence", help="licence of the data, stored with each asset")
    p.add_argument("--effective", type=_iso_date, metavar="DATE",
                   help="when a provider file's openings, changes and closures took effect (default: now); "
                        "ingest a source's older files first")
    p.add_argument("--service-date", type=_iso_date, metavar="DATE",
                   help="a GTFS feed's day whose morning-peak departures give the PTAL (default: the feed's "
                        "busiest weekday)")
    p.add_argument("--closes-missing", action="store_true",
                   help="the file lists the whole source: its sites the file no longer lists have closed")
    p.add_argument("--level", choices=["oa", "lsoa", "msoa", "ward", "la"], help="boundary level")
    p.add_argument("--code-field", help="boundary property holding the area code")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_ingest)

    p = add("status", help="table counts, ingests, schema version, extent")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = add("quarantine", help="rows that were not stored, with the reason")
    p.add_argument("--ingest", type=int)
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_quarantine)

    p = add("demo-data", help="write the synthetic demo place in the real formats")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--scale", choices=["city", "region", "national"], default="city")
    p.add_argument("--seed", type=int, default=20261123)
    p.set_defaults(func=cmd_demo_data)

    p = add("export", help="export a layer (EPSG:4326)")
    p.add_argument("--layer", choices=LAYERS, required=True)
    p.add_argument("--format", choices=FORMATS, default="geojson")
    p.add_argument("--out", help="output file (default LAYER.FORMAT)")
    p.add_argument("--partner", action="store_true",
                   help="include sensitive assets' exact locations (partner mode)")
    p.add_argument("--oruk-version", choices=["3.0", "1"], default="3.0",
                   help="with --format openreferral: Open Referral UK 3.0 (a page of full services, the "
                        "default) or the 2019 v1 package")
    p.set_defaults(func=cmd_export)

    levels = ["ward", "msoa", "lsoa", "la"]
    p = add("recompute", help="recompute indices, accessibility, need and gaps")
    p.add_argument("--changed", action="store_true",
                   help="only what the assets changed since the last recompute can reach (incremental)")
    p.add_argument("--wards", nargs="+", metavar="CODE",
                   help="incremental, for results from before the store kept the assets it analysed: "
                        "take every asset in these wards as changed")
    p.add_argument("--by", choices=levels, help="unit of analysis (default: wards, where loaded)")
    p.add_argument("--supply-by-bus", action="store_true",
                   help="count providers a short walk and one bus away on the supply side too (needs a GTFS "
                        "timetable; as ASSETMAP_SUPPLY_BY_BUS=1; off by default)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="bootstrap replicates for confidence intervals of D (default none)")
    p.add_argument("--as-at", metavar="DATE|SNAPSHOT",
                   help="the gaps with the sites open at that date (or snapshot), kept beside today's "
                        "(see `assetmap gaps --as-at`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recompute)

    from assetmap.vocab.categories import CATEGORIES

    p = add("gaps", help="units ranked by provision gap for a category, with why")
    p.add_argument("--category", choices=list(CATEGORIES), default="esol_provider")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--by", choices=levels)
    p.add_argument("--flagged", action="store_true", help="only 'high need, low provision' units")
    p.add_argument("--as-at", metavar="DATE|SNAPSHOT",
                   help="each unit's gap then (computed by `recompute --as-at`) beside today's, biggest rise first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gaps)

    p = add("changes", help="openings, closures and moves per ward, from the assets' history")
    p.add_argument("--from", dest="since", metavar="DATE|SNAPSHOT", help="after this date or snapshot")
    p.add_argument("--to", dest="until", metavar="DATE|SNAPSHOT", help="up to this date or snapshot")
    p.add_argument("--category", choices=list(CATEGORIES))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_changes)

    p = add("what-if", help="which gaps change if assets open or close (nothing written)")
    p.add_argument("--add", action="append", metavar="LAT,LON,CATEGORY[,CAPACITY]")
    p.add_argument("--remove", action="append", metavar="ASSET_ID")
    p.add_argument("--by", choices=levels)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_what_if)

    p = add("suggest", help="the k sites that cover the most unmet need (MCLP)")
    p.add_argument("--category", choices=list(CATEGORIES), required=True)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--radius", type=float, help=f"service radius in metres (default {settings.site_radius_m:g})")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_suggest)

    p = add("indices", help="segregation indices; --compare against partner-published values")
    p.add_argument("--unit", help="one unit's code")
    p.add_argument("--focal", help="one focal group")
    p.add_argument("--by", choices=levels)
    p.add_argument("--compare", action="store_true", help="where partner values disagree with ours")
    p.add_argument("--tolerance", type=float, default=0.005)
    p.add_argument("--top", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_indices)

    p = add("dispersal", help="supported asylum seekers vs provision per 10,000, by LA and quarter")
    p.add_argument("--period", type=_iso_date, help="date of the Asy_D11 figures (default the latest)")
    p.add_argument("--region", help="every authority of this UK region or nation (as Asy_D11 names it), "
                                    "over the dates loaded")
    p.add_argument("--la", nargs="+", metavar="CODE", help="these local authorities, over the dates loaded")
    p.add_argument("--from", dest="since", metavar="DATE", type=_iso_date,
                   help="only dates on or after this one (YYYY-MM-DD)")
    p.add_argument("--as-published", action="store_true",
                   help="the codes as published, rather than retired districts summed into today's authorities")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dispersal)

    p = add("migrate", help="bring a store made by an older assetmap up to date (any write does it too)")
    p.set_defaults(func=cmd_migrate)

    p = add("publish", help="publish the store as a new read-only snapshot")
    p.add_argument("--reason")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_publish)

    p = add("submissions", help="community submissions (default: pending)")
    p.add_argument("--status", choices=["pending", "approved", "rejected", "all"], default="pending")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_submissions)

    p = add("approve", help="approve a pending submission (validated like any provider row); recompute the "
                            "units it reaches and publish a snapshot, as the dashboard's moderation does")
    p.add_argument("id", metavar="ID")
    p.add_argument("--no-publish", dest="publish", action="store_false",
                   help="store and recompute, but publish no snapshot (the next publish shows it)")
    p.set_defaults(func=cmd_approve)

    p = add("reject", help="reject a pending submission, with the reason")
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_reject)

    p = add("subscribe", help="tell an email address or a webhook when provision changes in some wards, "
                              "authorities or a region",
            description="Subscribe an email address or a webhook to changes: sites opened, closed or moved, and "
                        "ward gaps that rise (past --threshold). Made here, a subscription starts at once (one "
                        "made in the dashboard waits for its confirmation link). Messages go after each publish "
                        "(`assetmap notify`, or the pipeline's notify deployment).")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="ADDRESS")
    who.add_argument("--webhook", metavar="URL", help="POSTed JSON, signed (X-Assetmap-Signature: HMAC-SHA256 "
                                                      "of the subscription's secret)")
    p.add_argument("--ward", action="append", metavar="CODE", help="ward code(s) (repeat, or comma-separated)")
    p.add_argument("--la", action="append", metavar="CODE", help="local authority code(s): all their wards")
    p.add_argument("--region", metavar="NAME", help="an English region or Wales: all its authorities' wards")
    p.add_argument("--category", action="append", metavar="C", help="only these categories (default: all)")
    p.add_argument("--on", action="append", metavar="WHAT",
                   help="opened, closed, moved, gap-rises (comma-separated; default: all)")
    p.add_argument("--threshold", type=float, metavar="X", help="gap-rises only when a gap rises past X")
    p.add_argument("--digest", dest="mode", action="store_const", const="daily", default="immediate",
                   help="one message a day at most, gathering the day's publishes")
    p.add_argument("--partner", action="store_true",
                   help="a partner's subscription: told of sensitive sites too (default: public, counts only)")
    p.set_defaults(func=cmd_subscribe)

    p = add("subscriptions", help="the subscriptions, with what was sent to each")
    p.add_argument("--all", action="store_true", help="the ended ones too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_subscriptions)

    p = add("unsubscribe", help="end a subscription")
    p.add_argument("id", metavar="ID")
    p.set_defaults(func=cmd_unsubscribe)

    p = add("notify", help="send what the latest snapshot means for each subscriber (twice sends nothing twice)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_notify)

    p = add("fetch", help="download a local authority's or a region's open data: boundaries, lookup, census, "
                          "OSM places")
    p.add_argument("--la", action="append", metavar="CODE_OR_NAME",
                   help="a local authority by GSS code or name (repeatable)")
    p.add_argument("--region", metavar="NAME",
                   help="every authority of a region of England or a nation, as ONS names it (\"West Midlands\", "
                        "\"Yorkshire and The Humber\", Wales, England), with --la or instead of it")
    p.add_argument("--what", help="comma-separated: boundaries,lookup,census,osm,network,gtfs,openreferral, or all "
                                  "(default: all but network, the walking network, which is larger, gtfs and "
                                  "openreferral)")
    p.add_argument("--url", metavar="BASE",
                   help="a service directory's Open Referral UK 3.0 API: every service, its list walked page by "
                        "page (/services?page=N) and each fetched whole; implies --what openreferral, and alone "
                        "(no --la or --region) fetches only the directory")
    p.add_argument("--gtfs", metavar="URL_OR_PATH",
                   help="a GTFS timetable feed for bus and rail access (PTAL): a URL (the Bus Open Data Service's "
                        "with ASSETMAP_BODS_API_KEY) or a path; implies --what gtfs")
    p.add_argument("--into", help="folder for the files (default <home>/fetched/<region or codes>)")
    p.add_argument("--ingest", action="store_true",
                   help="then load them in dependency order, recompute and publish (through the "
                        "running pipeline when `assetmap up` is running)")
    p.add_argument("--refresh", action="store_true", help="ask the services again instead of using the cache")
    p.set_defaults(func=cmd_fetch)

    p = add("up", help="the main job: Prefect server, pipelines, inbox watcher, dashboard",
            description="The main job: a Prefect server on 127.0.0.1, the pipeline's event-triggered "
                        "deployments and the inbox watcher, the demo data through them, and the dashboard. "
                        "Ctrl-C or SIGTERM stops everything.")
    up_options.add_arguments(p)
    p.set_defaults(func=cmd_up)

    p = add("doctor", help="check a deployment's parts from this machine, one line each, with what to fix",
            description="Check the store, the Prefect API and the pipeline's workers, the writer limit, the "
                        "bucket, the identity provider, the dashboard and its replicas, and the map scripts, "
                        "from this machine. Exit 0 when every part checked is fine.")
    p.add_argument("--api", help="the Prefect API (default PREFECT_API_URL, else http://127.0.0.1:4200/api)")
    p.add_argument("--pool", help="the work pool whose live workers to look for (as given to `up --pool`)")
    p.add_argument("--dashboard", help="the dashboard's address (default http://127.0.0.1:8501)")
    p.add_argument("--no-dashboard", action="store_true", help="this machine serves no dashboard")
    p.add_argument("--replica", action="store_true",
                   help="this machine only serves dashboards from the bucket: no store, no Prefect here")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_doctor)

    p = add("worker", help="a Prefect process worker for the pipeline's work pool (on this or another machine)",
            description="Run the pipeline's flow runs from a Prefect work pool, against the Prefect API of "
                        "`assetmap up --pool NAME`. Writes to the store are serialised across all workers by "
                        "a Prefect global concurrency limit named after the store.")
    p.add_argument("--pool", required=True, help="the work pool (as given to `assetmap up --pool`)")
    p.add_argument("--limit", type=int, default=2, help="flow runs at once on this worker (default 2)")
    p.add_argument("--name", help="this worker's name in the logs (default host-pid)")
    p.add_argument("--api", help="the Prefect API, http://HOST:PORT/api (default PREFECT_API_URL)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between asks for waiting runs (default 1)")
    p.add_argument("--watch", action="store_true", help="also watch this machine's inbox (ASSETMAP_INBOX)")
    p.set_defaults(func=cmd_worker)
    return parser


def _without_up_separator(argv: list[str]) -> list[str]:
    """``assetmap up -- --pool X`` as ``assetmap up --pool X``: the ``--`` older guides put before
    `up`'s options is still understood."""
    out = list(argv)
    if "up" in out:
        i = out.index("up")
        if i + 1 < len(out) and out[i + 1] == "--":
            del out[i + 1]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_without_up_separator(sys.argv[1:] if argv is None else argv))
    level = logging.WARNING - 10 * min(args.verbose, 2)
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(level=level, format="%(message)s",
                        handlers=[RichHandler(show_path=False, console=Console(stderr=True))], force=True)
    from assetmap.errors import AssetmapError

    try:
        return int(args.func(args) or 0)
    except (AssetmapError, ValueError) as exc:  # what the user can fix (and a bad number they gave)
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output went away (`assetmap ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
