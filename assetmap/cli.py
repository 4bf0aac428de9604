"""The ``assetmap`` command line.

Exit status: 0 when every file was taken (quarantined rows included), 2 when a file was
refused as a whole or the command's input is wrong, 1 on an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from assetmap.settings import settings

log = logging.getLogger("assetmap")


def _out(text: str = "") -> None:
    """Write a line of the command's result to standard output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _store(args: argparse.Namespace, read_only: bool = False):
    from assetmap.store import open_store

    return open_store(args.db, read_only=read_only)


# ---------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from assetmap.ingest import expand_paths, ingest_file

    options: dict[str, Any] = {k: v for k, v in {
        "kind": args.kind, "mapping": args.map or None, "category": args.category,
        "source": args.source, "vintage": args.vintage, "licence": args.licence,
        "level": args.level, "code_field": args.code_field, "variable": args.variable,
    }.items() if v}
    files = expand_paths(args.paths, options)
    if not files:
        log.error("no files found in %s", " ".join(args.paths))
        return 2
    results = []
    console = Console(stderr=True)
    with _store(args) as store, Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
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
                if r.rows_quarantined:
                    _out(f"         see: assetmap quarantine --ingest {r.ingest_id}")
    return 2 if any(r.status == "refused" for r in results) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from assetmap.store import Store

    path = Path(args.db or settings.db_path)
    if not path.exists():
        status: dict[str, Any] = {"db": str(path), "tables": {}, "ingests": [], "schema_version": 0,
                                  "extent": None}
    else:
        with Store(path) as store:
            status = store.status()
    if args.json:
        _out(json.dumps(status, indent=2, default=str))
        return 0
    _out(f"store: {status['db']} (schema version {status['schema_version']})")
    for name, n in status["tables"].items():
        _out(f"  {name:<18} {n:>10,}")
    if status["extent"]:
        _out("  extent (lon/lat): " + ", ".join(f"{v:.4f}" for v in status["extent"]))
    if status["ingests"]:
        _out("last ingests:")
        for r in status["ingests"][-10:]:
            _out(f"  #{r['ingest_id']:<4} {r['status']:<9} {r['kind'] or '-':<12} read {r['rows_read']:>8,} "
                 f"accepted {r['rows_accepted']:>8,} quarantined {r['rows_quarantined']:>6,}  {r['path']}")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    with _store(args) as store:
        sql = ("SELECT q.ingest_id, i.path, q.row_number, q.reason_code, q.message, q.raw "
               "FROM quarantine q JOIN ingests i USING (ingest_id) WHERE true")
        params: list[Any] = []
        if args.ingest is not None:
            sql += " AND q.ingest_id = ?"
            params.append(args.ingest)
        if args.reason:
            sql += " AND q.reason_code = ?"
            params.append(args.reason)
        sql += " ORDER BY q.ingest_id, q.row_number LIMIT ?"
        params.append(args.limit)
        rows = store.con.execute(sql, params).fetchall()
        summary = store.con.execute(
            "SELECT reason_code, count(*) FROM quarantine WHERE ? IS NULL OR ingest_id = ? "
            "GROUP BY 1 ORDER BY 2 DESC", [args.ingest, args.ingest]).fetchall()
    if args.json:
        keys = ["ingest_id", "path", "row_number", "reason_code", "message", "raw"]
        _out(json.dumps({"summary": dict(summary), "rows": [dict(zip(keys, r)) for r in rows]},
                        indent=2, default=str))
        return 0
    for code, n in summary:
        _out(f"{code:<24} {n:>8,}")
    for r in rows:
        _out(f"#{r[0]} {r[3]:<22} {r[4]}")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from assetmap.demo import generate

    paths = generate(args.out, scale=args.scale, seed=args.seed)
    for p in paths:
        _out(str(p))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from assetmap.export import export_layer

    out = args.out or f"{args.layer}.{args.format}"
    with _store(args) as store:
        n = export_layer(store, args.layer, args.format, out, partner=args.partner)
    _out(f"wrote {n} features of {args.layer} to {out}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Ingest the demo city (generating it on first use) and show the store's status."""
    from assetmap.demo import generate

    demo = Path(settings.demo_dir)
    if not (demo / "MANIFEST.json").exists():
        log.info("generating the synthetic demo city in %s", demo)
        generate(demo, scale="city")
    ns = argparse.Namespace(**{**vars(args), "paths": [str(demo)], "kind": None, "map": None,
                               "category": None, "source": None, "vintage": None, "licence": None,
                               "level": None, "code_field": None, "variable": None, "json": False})
    rc = cmd_ingest(ns)
    cmd_status(argparse.Namespace(db=args.db, json=False))
    return rc


# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from assetmap import __version__
    from assetmap.export import FORMATS, LAYERS
    from assetmap.sources import KINDS

    parser = argparse.ArgumentParser(prog="assetmap", description="Community asset mapping for the UK.")
    parser.add_argument("--version", action="version", version=f"assetmap {__version__}")
    parser.add_argument("--db", default=os.environ.get("ASSETMAP_DB"),
                        help=f"the DuckDB store (default {settings.db_path}; env ASSETMAP_DB)")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="ingest files or folders (folders in dependency order)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--kind", choices=KINDS, help="skip sniffing: read as this kind")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="map a foreign column to an assetmap field (repeatable; dotted paths for "
                        "nested GeoJSON properties)")
    p.add_argument("--category", help="category for rows that give none")
    p.add_argument("--source", help="source label (default: the file's name)")
    p.add_argument("--vintage", help="census or boundary vintage, e.g. 2021")
    p.add_argument("--variable", help="census variable when the file does not say")
    p.add_argument("--licence", help="licence of the data, stored with each asset")
    p.add_argument("--level", choices=["oa", "lsoa", "msoa", "ward", "la"], help="boundary level")
    p.add_argument("--code-field", help="boundary property holding the area code")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("status", help="table counts, ingests, schema version, extent")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("quarantine", help="rows that were not stored, with the reason")
    p.add_argument("--ingest", type=int)
    p.add_argument("--reason")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("demo-data", help="write the synthetic demo place in the real formats")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--scale", choices=["city", "national"], default="city")
    p.add_argument("--seed", type=int, default=20261123)
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("export", help="export a layer (EPSG:4326)")
    p.add_argument("--layer", choices=LAYERS, required=True)
    p.add_argument("--format", choices=FORMATS, default="geojson")
    p.add_argument("--out", help="output file (default LAYER.FORMAT)")
    p.add_argument("--partner", action="store_true",
                   help="include sensitive assets' exact locations (partner mode)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("up", help="the main job: ingest the demo data and serve it")
    p.set_defaults(func=cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(level=level, format="%(message)s",
                        handlers=[RichHandler(show_path=False, console=Console(stderr=True))], force=True)
    from assetmap.sources import FileRefused
    from assetmap.store import StoreError

    try:
        return int(args.func(args) or 0)
    except (FileRefused, StoreError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
