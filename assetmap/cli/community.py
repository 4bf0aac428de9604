"""Commands for the community and the subscribers.

Submissions, approve, reject, subscribe, subscriptions, unsubscribe, notify.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from assetmap.cli._common import _out, _split, _store, log, settings


def cmd_submissions(args: argparse.Namespace) -> int:
    """``assetmap submissions``: the places the public suggested (pending, or all)."""
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
    """``assetmap approve``: store a submission as an asset, recompute what it reaches and publish."""
    from assetmap.submissions import approve

    with _store(args) as store:
        d = approve(store, args.id, publish=args.publish)
    _out(f"approved {args.id}: stored as asset {d.asset_id} (ingest #{d.ingest.ingest_id}); wards changed: "
         f"{', '.join(d.ingest.affected_wards) or 'none'}; {d.recomputed_units} units recomputed"
         + (f"; published snapshot {d.snapshot_id}" if d.snapshot_id else ""))
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    """``assetmap reject``: record a submission's rejection and why."""
    from assetmap.submissions import reject

    with _store(args) as store:
        reject(store, args.id, args.reason)
    _out(f"rejected {args.id}: {args.reason}")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    """``assetmap subscribe``: tell an email address or a webhook what changes where."""
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
        wanted = alerts.Wanted(wards=_split(args.ward), las=_split(args.la), region=region, region_las=region_las,
                               categories=_split(args.category) or None, on=_split(args.on) or alerts.TRIGGERS,
                               threshold=args.threshold, mode=args.mode, role="partner" if args.partner else "public")
        sub = alerts.subscribe(store, wanted, email=args.email, webhook=args.webhook)
    _out(f"subscribed {sub['subscription_id']}: {sub['channel']} {sub['address']}, {len(sub['wards'])} ward(s), "
         f"{len(sub['las'])} authorit{'y' if len(sub['las']) == 1 else 'ies'}, on {','.join(sub['triggers'])}, "
         f"{sub['mode']}, {sub['role']}")
    if sub["channel"] == "webhook":
        _out(f"webhook secret (verify {alerts.SIGNATURE_HEADER} with it; shown once): {sub['secret']}")
    return 0


def cmd_subscriptions(args: argparse.Namespace) -> int:
    """``assetmap subscriptions``: who is told what, with their deliveries counted."""
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
    """``assetmap unsubscribe``: end a subscription."""
    from assetmap import alerts

    with _store(args) as store:
        sub = alerts.unsubscribe(store, args.id)
    _out(f"ended {sub['subscription_id']}")
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    """``assetmap notify``: plan, send and record what the latest snapshots mean for subscribers."""
    from assetmap import alerts
    from assetmap.db.store import open_store

    report = alerts.notify(lambda: open_store(args.db), who=f"cli:{os.getpid()}")
    if args.json:
        _out(json.dumps(report.as_dict()))
    else:
        _out(f"{report.planned} message(s) planned, {report.sent} sent, {report.retry} to try again, "
             f"{report.given_up} given up; {report.pending} waiting")
    return 0
