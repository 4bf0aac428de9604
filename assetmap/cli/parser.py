"""The argument parser: every command, its options, and the handler it calls."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from assetmap import up_options
from assetmap.cli._common import _iso_date, settings
from assetmap.cli.analysis import (
    cmd_changes,
    cmd_dispersal,
    cmd_gaps,
    cmd_indices,
    cmd_recompute,
    cmd_suggest,
    cmd_what_if,
)
from assetmap.cli.community import (
    cmd_approve,
    cmd_notify,
    cmd_reject,
    cmd_submissions,
    cmd_subscribe,
    cmd_subscriptions,
    cmd_unsubscribe,
)
from assetmap.cli.data import (
    cmd_demo_data,
    cmd_export,
    cmd_fetch,
    cmd_ingest,
    cmd_migrate,
    cmd_publish,
    cmd_quarantine,
    cmd_status,
)
from assetmap.cli.deploy import cmd_doctor, cmd_up, cmd_worker

#: Adds a subcommand (with the global options after it too) and returns its parser.
_Add = Callable[..., argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command (global options before or after the command)."""
    from assetmap import __version__

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
        """Return a subcommand, with the global options after it too."""
        return sub.add_parser(name, parents=[common], **kwargs)

    _store_commands(add)
    _analysis_commands(add)
    _snapshot_commands(add)
    _community_commands(add)
    _fetch_command(add)
    _deploy_commands(add)
    return parser


def _store_commands(add: _Add) -> None:
    """Add the commands that load the store and read it back: ingest, status, quarantine, demo-data, export."""
    from assetmap.vocab.exports import FORMATS, LAYERS
    from assetmap.vocab.file_kinds import KINDS

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


def _analysis_commands(add: _Add) -> None:
    """Add the commands of the analysis: recompute, gaps, changes, what-if, suggest, indices, dispersal."""
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

    _choice_commands(add, levels)


def _choice_commands(add: _Add, levels: list[str]) -> None:
    """Add the commands that compare choices and measures: suggest, indices, dispersal."""
    from assetmap.vocab.categories import CATEGORIES

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


def _snapshot_commands(add: _Add) -> None:
    """Add the commands that bring a store up to date and publish it: migrate, publish."""
    p = add("migrate", help="bring a store made by an older assetmap up to date (any write does it too)")
    p.set_defaults(func=cmd_migrate)

    p = add("publish", help="publish the store as a new read-only snapshot")
    p.add_argument("--reason")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_publish)


def _community_commands(add: _Add) -> None:
    """Add the commands of the community and its subscribers: submissions to notify."""
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


def _fetch_command(add: _Add) -> None:
    """Add the command that downloads open data: fetch."""
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


def _deploy_commands(add: _Add) -> None:
    """Add the commands that run the service: up, doctor, worker."""
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


def _without_up_separator(argv: list[str]) -> list[str]:
    """``assetmap up -- --pool X`` as ``assetmap up --pool X``.

    The ``--`` older guides put before `up`'s options is still understood.
    """
    out = list(argv)
    if "up" in out:
        i = out.index("up")
        if i + 1 < len(out) and out[i + 1] == "--":
            del out[i + 1]
    return out
