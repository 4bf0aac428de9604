"""Commands that bring data in and out: ingest, fetch, status, quarantine, demo-data, export, migrate, publish."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetmap.cli._common import _bar, _out, _progress, _store, log, settings

if TYPE_CHECKING:  # the fetch package is imported only when a fetch runs
    from assetmap.fetch import Fetched


def cmd_ingest(args: argparse.Namespace) -> int:
    """``assetmap ingest``: validate and store files and folders, each in one transaction."""
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
    """``assetmap status``: what the store holds, its ingests, snapshots, network and timetable."""
    from assetmap.db.store import Store, StoreBusy, StoreError, require_schema
    from assetmap.snapshots import list_snapshots, open_snapshot

    path = Path(args.db or settings.db_path)
    status: dict[str, Any] = {"db": str(path), "source": "store", "tables": {}, "ingests": [],
                              "schema_version": 0, "extent": None, "network": None, "timetable": None}
    if path.exists():
        try:
            # read-only: never wait for, or block, a pipeline that is writing
            with Store(path, read_only=True, spatial=False) as store:  # status calls no spatial function
                status.update(store.status())
        except StoreBusy:
            # the pipeline holds the working store: report its latest published snapshot
            try:
                con = open_snapshot(path)
            except StoreError as exc:
                log.error("the store is busy and no snapshot is published yet: %s", exc)
                return 2
            try:
                require_schema(con, path, snapshot=True)
                status.update(Store.over(con, path).status())
            finally:
                con.close()
            status["source"] = "latest snapshot (the working store is busy)"
    status["db"] = str(path)
    status["snapshots"] = list_snapshots(path)
    if args.json:
        _out(json.dumps(status, indent=2, default=str))
        return 0
    _out(f"store: {status['db']} (schema version {status['schema_version']})"
         + ("" if status["source"] == "store" else f": from its {status['source']}"))
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
    """``assetmap quarantine``: the rows an ingest could not store, and why."""
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
    """``assetmap demo-data``: generate the synthetic demo city (clearly labelled as such)."""
    from assetmap.demo import generate

    paths = generate(args.out, scale=args.scale, seed=args.seed)
    for p in paths:
        _out(str(p))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``assetmap export``: write a layer as GeoJSON, GeoPackage, CSV or Open Referral UK."""
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
    """``assetmap fetch``: download a place's open data (boundaries, census, places, timetables)."""
    from assetmap import fetch as fetchmod

    what = _fetch_what(args, fetchmod.WHAT, fetchmod.DEFAULT_WHAT)
    try:
        with _bar("fetching") as progress:
            client = fetchmod.Client(Path(settings.home) / "cache", refresh=args.refresh)
            result = fetchmod.fetch(args.la or [], Path(args.into) if args.into else None, what=what, client=client,
                                    gtfs=args.gtfs, region=args.region, progress=progress, url=args.url)
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
    if args.ingest and _ingest_fetched(args, result) != 0:
        return 2
    return 3 if result.unreachable else (2 if result.problems else 0)


def _fetch_what(args: argparse.Namespace, every: tuple[str, ...], default: tuple[str, ...]) -> list[str]:
    """Return the sources ``--what`` names (``all``: every one), with those ``--gtfs`` and ``--url`` imply.

    A directory's API alone (``--url``, no authority named) is a fetch of that directory only.
    """
    alone = args.url and not args.what and not args.la and not args.region
    what = [w.strip() for w in (args.what or ("openreferral" if alone else ",".join(default))).split(",")
            if w.strip()]
    if "all" in what:
        what = list(every)
    if args.gtfs and "gtfs" not in what:
        what.append("gtfs")
    if args.url and "openreferral" not in what:
        what.append("openreferral")
    return what


def _ingest_fetched(args: argparse.Namespace, result: Fetched) -> int:
    """Hand what was fetched to the running pipeline's inbox, or (none running) ingest, recompute and publish it here.

    2 when a file was refused.
    """
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
        return 0
    from assetmap.analysis import recompute
    from assetmap.ingest import ingest_paths
    from assetmap.snapshots import publish

    with _store(args) as store:
        results = ingest_paths(store, [result.folder])
        for r in results:
            _out(f"{'REFUSED ' if r.status == 'refused' else ''}{r.status:<9} {Path(r.path).name}: {r.message}")
        res = recompute(store)
        what_for = result.region or ", ".join(c for c, _ in result.las) or args.url
        snap = publish(store, reason=f"fetch {what_for}")
    _out(f"{res.mode} recompute: {res.units:,} units, {res.oas:,} OAs; snapshot {snap.snapshot_id}")
    return 2 if any(r.status == "refused" for r in results) else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """``assetmap migrate``: bring a store's schema up to date."""
    with _store(args) as store:  # opening for writing applies the migrations it lacks
        version = store.schema_version
    _out(f"{store.path}: schema version {version}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """``assetmap publish``: write the partner and public snapshots readers open."""
    from assetmap.snapshots import publish

    with _store(args) as store:
        snap = publish(store, reason=args.reason or "published by hand")
    _out(json.dumps(snap.as_dict(), indent=2) if args.json else f"published {snap.snapshot_id} -> {snap.path}")
    return 0
