"""Commands that analyse: recompute, gaps, changes, what-if, suggest, indices, dispersal."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from assetmap.cli._common import _level, _out, _records, _store, log, settings

if TYPE_CHECKING:

    from assetmap.db.store import Store


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
    """``assetmap recompute``: compute the analysis tables (all, or what changed since the last)."""
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
    """Return the moment a date or a snapshot's id means.

    Return a date (``2019-04-01``: the end of that day; as the ``start`` of a period, just before it began) or a
    snapshot's id (the moment it was published).
    """
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
    msg = (f"{text!r} is neither a date (YYYY-MM-DD) nor a snapshot kept beside the store "
           "(`assetmap status` lists them)")
    raise ValueError(msg)


def cmd_changes(args: argparse.Namespace) -> int:
    """``assetmap changes``: what opened, closed or moved over a period, ward by ward."""
    from assetmap.queries import change_records, tally_by_ward

    with _store(args, read_only=True, spatial=False) as store:
        start = _moment(store, args.since, start=True) if args.since else None
        end = _moment(store, args.until) if args.until else None
        listed = change_records(store.con, start, end, args.category, partner=True)
    by_ward = tally_by_ward(listed)
    if args.json:
        _out(json.dumps({"from": str(start) if start else None, "to": str(end) if end else None,
                         "category": args.category, "by_ward": by_ward,
                         "changes": listed},
                        indent=2, default=str))
        return 0
    if not listed:
        _out("no openings, closures or moves in that period")
        return 0
    _out(f"{'ward':<10} {'name':<24} {'category':<17} {'opened':>6} {'reopened':>8} {'moved':>5} "
         f"{'closed':>6} {'net':>4}")
    for w in by_ward:
        _out(f"{w['ward_code'] or '-':<10} {str(w['ward_name'] or '')[:24]:<24} {w['category']:<17} "
             f"{w['opened']:>6} {w['reopened']:>8} {w['moved']:>5} {w['closed']:>6} {w['net']:>+4}")
    _out("")
    for r in listed:
        moved = f" ({r['moved_m']:.0f} m)" if r["change"] == "moved" and r["moved_m"] is not None else ""
        _out(f"{str(r['at'])[:10]}  {r['change']:<8} {r['category']:<17} {r['name']}{moved}  [{r['ward_code'] or '-'}]")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    """``assetmap gaps``: the units ranked by their gap for a category."""
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
        msg = f"--add {text!r}: expected lat,lon,category[,capacity]"
        raise ValueError(msg)
    try:
        lat, lon = float(parts[0]), float(parts[1])
        cap = float(parts[3]) if parts[3:] else 1.0
    except ValueError as exc:
        msg = f"--add {text!r}: latitude, longitude and capacity must be numbers"
        raise ValueError(msg) from exc
    return lat, lon, parts[2], cap


def cmd_what_if(args: argparse.Namespace) -> int:
    """``assetmap what-if``: how the gaps would change with hypothetical sites."""
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
    """``assetmap suggest``: where new sites would close the most gap."""
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
    """``assetmap indices``: the segregation indices of the units."""
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


def cmd_dispersal(args: argparse.Namespace) -> int:
    """``assetmap dispersal``: the Asy_D11 review of where people on asylum support are placed."""
    from assetmap.queries import dispersal

    over_time = bool(args.region or args.la or args.since)
    with _store(args, read_only=True) as store:
        if not over_time:
            df = dispersal.review(store.con, period=args.period)
        else:
            region = args.region
            if region and region.lower() not in {r.lower() for r in dispersal.regions(store.con)}:
                known = ", ".join(dispersal.regions(store.con)) or "none loaded"
                msg = f"no Asy_D11 figures for the region {region!r}; the regions loaded: {known}"
                raise ValueError(msg)
            df = dispersal.trend(store.con, region=region, las=args.la, since=args.since,
                                       current=not args.as_published)
        found = dispersal.breaks(store.con, within=df["period"] if over_time and not df.empty else None)
        moved = dispersal.carried_forward(store.con)
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
    grown = dispersal.growth(df)
    if args.json:
        _out(json.dumps({"source": dispersal.SOURCE, "region": args.region, "local_authorities": args.la,
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
    _out(f"Supported asylum seekers per 10,000 residents ({dispersal.SOURCE}):" if rates else
         f"Supported asylum seekers ({dispersal.SOURCE}); no residents are loaded for these authorities, "
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
