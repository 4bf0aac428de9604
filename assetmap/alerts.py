"""Alerts: tell subscribers when provision changes where they care.

A subscription names an address (an email address or a webhook URL), a place (wards, local
authorities or a region's authorities), the categories and the changes it cares for
(``opened``, ``closed``, ``moved``, ``gap-rises`` past an optional threshold), a mode
(``immediate``: one message per published snapshot that concerns it; ``daily``: one digest per
``settings.digest_hours``) and a role: ``public`` unless a signed-in partner or the store's owner
made it ``partner``. A public subscriber is told only what the public snapshot holds, under the
same disclosure rule (:mod:`assetmap.disclosure`): no sensitive site is ever named or located.

Each subscription keeps a *baseline*: the sites and ward gaps in its place as its last message
(or its start) saw them. :func:`notify` compares the latest snapshot of the subscription's
variant with that baseline, so a message says everything since the last one however many
snapshots came between, and needs no old snapshot kept. It works in three steps:

1. *plan* (in the store, one writer at a time): each active subscription whose baseline is older
   than the latest snapshot gets a ``deliveries`` row keyed ``(subscription, snapshot)`` (or
   ``digest:<snapshot>``) holding the message's text, and its baseline moves on, in one
   transaction; a second planner finds the row there and adds nothing;
2. *claim* the deliveries that are due (``pending`` with ``next_at`` passed): ``sending``;
3. *send* them outside the store (email through SMTP with STARTTLS, webhooks as JSON signed with
   an HMAC-SHA256 of the subscription's own secret; both by :mod:`apprise`), then *record*:
   ``sent``; or, on failure, ``pending`` again after a back-off doubling from
   ``settings.alert_backoff_s``, ``given_up`` after ``settings.alert_tries`` attempts.

A message is sent at most once: a claim whose process was lost is marked ``interrupted``, never
sent again. A subscription made in the dashboard waits for its address to be confirmed by a link
in a first email (double opt-in); every email carries a one-click unsubscribe link (RFC 8058).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assetmap import queries
from assetmap.db import subscriptions as subs_db
from assetmap.db.store import Store, connect
from assetmap.errors import AssetmapError
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES, CATEGORY_LABELS

log = logging.getLogger(__name__)

CHANNELS = ("email", "webhook")
TRIGGERS = ("opened", "closed", "moved", "gap-rises")
MODES = ("immediate", "daily")
ROLES = ("public", "partner")
#: A site whose position changed by less than this has not moved (a re-surveyed point).
MOVED_M = 1.0
#: The longest email address (RFC 5321's path) and webhook URL taken.
MAX_EMAIL_CHARS, MAX_URL_CHARS = 254, 2000
#: How many unknown codes a refusal names, and how many wards a subject line names.
_CODES_NAMED, _WARDS_NAMED = 5, 3
#: The webhook header that carries ``t=<unix time>,sha256=<hex>``: the HMAC-SHA256, keyed with the
#: subscription's secret, of ``<unix time>.<message>`` (the ``message`` field of the JSON body).
SIGNATURE_HEADER = "X-Assetmap-Signature"
#: How long a claimed delivery may stay ``sending`` before its process counts as lost.
CLAIM_LEASE_S = 600.0
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class AlertError(AssetmapError, ValueError):
    """A subscription or a request about one that cannot be taken: said in one line."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


# -- sealing: what would give a subscriber away never lies in the store's file in clear ----------

def key_path(db_path: str | os.PathLike[str]) -> Path:
    """Return the key that seals subscribers' addresses, secrets and tokens.

    Beside the store, made on first use (readable by its owner only). Move it with the store; without it they
    cannot be read.
    """
    db = Path(db_path)
    return db.with_name(db.name + ".alerts-key")


@functools.lru_cache(maxsize=8)
def _key(path: Path) -> bytes:
    """Return the sealing key at ``path``, made if need be; read once per process (it never changes)."""
    from cryptography.fernet import Fernet

    if not path.exists():
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


def _fernet(db_path: str | os.PathLike[str]) -> Any:
    from cryptography.fernet import Fernet

    return Fernet(_key(key_path(db_path).resolve()))


def _seal(db_path: str | os.PathLike[str], text: str) -> str:
    return str(_fernet(db_path).encrypt(text.encode()).decode())


def _unseal(db_path: str | os.PathLike[str], sealed: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return str(_fernet(db_path).decrypt(sealed.encode()).decode())
    except InvalidToken:
        msg = f"the subscriptions were sealed with another key than {key_path(db_path)}"
        raise AlertError(msg) from None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _address_hash(db_path: str | os.PathLike[str], address: str) -> str:
    """Return an address's keyed hash (no dictionary of addresses finds it without the key)."""
    return hmac.new(_key(key_path(db_path).resolve()), address.strip().lower().encode(), hashlib.sha256).hexdigest()


#: At most this many subscriptions awaiting confirmation per address (the form cannot be used to
#: flood someone's inbox with confirmation emails).
MAX_PENDING = 3


# -- subscriptions ---------------------------------------------------------------------------------

def check_email(address: str) -> str:
    """``address`` stripped, or :class:`AlertError` when it is not an email address."""
    address = (address or "").strip()
    if len(address) > MAX_EMAIL_CHARS or not _EMAIL.match(address):
        msg = f"{address[:80]!r} is not an email address"
        raise AlertError(msg)
    return address


def check_webhook(url: str) -> str:
    """``url`` stripped, or :class:`AlertError` when it is not an http(s) URL with a host."""
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL_CHARS:
        msg = f"{url[:80]!r} is not a webhook URL (http:// or https://, with a host)"
        raise AlertError(msg)
    return url


def _codes(con: duckdb.DuckDBPyConnection, level: str, codes: Iterable[str]) -> list[str]:
    wanted = sorted({c.strip() for c in codes if c and c.strip()})
    if not wanted:
        return []
    known = set(queries.known_codes(con, level, wanted))
    unknown = [c for c in wanted if c not in known]
    if unknown:
        what = {"ward": "ward", "la": "local authority"}[level]
        raise AlertError(f"the store has no {what} {', '.join(unknown[:_CODES_NAMED])}"
                         + (f" (and {len(unknown) - _CODES_NAMED} more)" if len(unknown) > _CODES_NAMED else ""))
    return wanted


@dataclass(frozen=True)
class Wanted:
    """What a subscription asks to be told of, and where.

    ``region`` is a label for ``region_las``, the authorities the caller resolved it to;
    ``categories`` None means every one; ``on`` the triggers (:data:`TRIGGERS`); ``threshold`` the
    rise of a gap that is told; ``mode`` :data:`MODES`; ``role`` :data:`ROLES`.
    """

    wards: Iterable[str] = ()
    las: Iterable[str] = ()
    region: str | None = None
    region_las: Iterable[str] = ()
    categories: Iterable[str] | None = None
    on: Iterable[str] = TRIGGERS
    threshold: float | None = None
    mode: str = "immediate"
    role: str = "public"


def subscribe(store: Store, wanted: Wanted, *, email: str | None = None, webhook: str | None = None,
              confirmed: bool = True, made_by: str = "cli", now: _dt.datetime | None = None) -> dict[str, Any]:
    """Store a subscription and return it (with its ``subscription_id`` and ``token``).

    ``confirmed=False`` (an email address given in the dashboard) makes it ``pending`` and plans the
    confirmation email; it starts when :func:`confirm` takes the link's token.
    """
    mode, role, threshold = wanted.mode, wanted.role, wanted.threshold
    if (email is None) == (webhook is None):
        msg = "give one of --email or --webhook"
        raise AlertError(msg)
    channel, address = ("email", check_email(email)) if email is not None else ("webhook", check_webhook(webhook or ""))
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(MODES)}, not {mode!r}"
        raise AlertError(msg)
    if role not in ROLES:
        msg = f"role must be one of {', '.join(ROLES)}, not {role!r}"
        raise AlertError(msg)
    triggers = sorted({t.strip() for t in wanted.on if t.strip()})
    bad = [t for t in triggers if t not in TRIGGERS]
    if bad or not triggers:
        msg = f"--on takes {', '.join(TRIGGERS)}, not {', '.join(bad) or 'nothing'}"
        raise AlertError(msg)
    cats = sorted(set(wanted.categories)) if wanted.categories else None
    if cats:
        bad = [c for c in cats if c not in CATEGORIES]
        if bad:
            msg = f"no category {', '.join(bad)}; the categories are {', '.join(CATEGORIES)}"
            raise AlertError(msg)
    if threshold is not None and not math.isfinite(threshold):
        msg = "--threshold must be a number"
        raise AlertError(msg)
    ward_codes = _codes(store.con, "ward", wanted.wards)
    la_codes = sorted(set(_codes(store.con, "la", wanted.las)) | set(wanted.region_las))
    if not ward_codes and not la_codes:
        msg = "say where: --ward CODE, --la CODE or --region NAME"
        raise AlertError(msg)
    now = now or _now()
    address_hash = _address_hash(store.path, address)
    same = subs_db.same_as(store.con, address_hash, channel, {
        "wards": ward_codes, "las": la_codes, "categories": cats, "triggers": triggers, "threshold": threshold,
        "mode": mode, "role": role})
    if same:  # asked again: the same subscription (and, pending, no second confirmation email)
        return {**same[0], "address": address, "secret": _unseal(store.path, same[0]["secret"]),
                "token": _unseal(store.path, same[0]["token"])}
    if not confirmed and subs_db.pending_for(store.con, address_hash) >= MAX_PENDING:
        msg = f"{_masked(address)} has {MAX_PENDING} subscriptions waiting for confirmation already"
        raise AlertError(msg)
    sub = {"subscription_id": secrets.token_hex(6), "channel": channel, "address": address, "wards": ward_codes,
           "las": la_codes, "region": wanted.region, "categories": cats, "triggers": triggers, "threshold": threshold,
           "mode": mode, "role": role, "status": "active" if confirmed else "pending",
           "secret": secrets.token_hex(32), "token": secrets.token_urlsafe(24), "made_by": made_by,
           "created_at": now, "confirmed_at": now if confirmed else None}
    baseline, snapshot_id = _picture_now(store.path, sub) if confirmed else (None, None)
    sealed = {k: _seal(store.path, str(sub[k])) for k in ("address", "secret", "token")}
    with store.transaction() as con:
        subs_db.add(con, {**sub, **sealed, "token_hash": _token_hash(str(sub["token"])),
                          "address_hash": address_hash, "baseline": json.dumps(baseline) if baseline else None,
                          "baseline_snapshot": snapshot_id, "last_digest_at": now})
        if not confirmed:
            subject, body = _confirmation(sub)
            subs_db.plan(con, subs_db.Planned(str(sub["subscription_id"]), "confirm", "confirm", None, subject, body,
                                              None), now)
    log.info("subscription %s: %s %s (%s)", sub["subscription_id"], channel, _masked(address), sub["status"])
    return sub


def confirm(store: Store, token: str, now: _dt.datetime | None = None) -> dict[str, Any]:
    """Start the pending subscription whose confirmation link carried ``token``."""
    sub = _by_token(store.con, token)
    if sub["status"] == "unsubscribed":
        msg = "this subscription was ended; subscribe again"
        raise AlertError(msg)
    if sub["status"] == "active":
        return sub
    now = now or _now()
    baseline, snapshot_id = _picture_now(store.path, sub)
    subs_db.start(store.con, sub["subscription_id"], now, json.dumps(baseline) if baseline else None, snapshot_id)
    log.info("subscription %s confirmed", sub["subscription_id"])
    return {**sub, "status": "active"}


def unsubscribe(store: Store, ident: str, by_token: bool = False, now: _dt.datetime | None = None) -> dict[str, Any]:
    """End a subscription (by its id, or by the token of its links); what it had due is cancelled."""
    sub = _by_token(store.con, ident) if by_token else _by_id(store.con, ident)
    if sub["status"] != "unsubscribed":
        with store.transaction() as con:
            subs_db.end(con, sub["subscription_id"], now or _now())
        log.info("subscription %s ended", sub["subscription_id"])
    return {**sub, "status": "unsubscribed"}


def _by_id(con: duckdb.DuckDBPyConnection, ident: str) -> dict[str, Any]:
    rows = subs_db.by_id(con, ident.strip())
    if not rows:
        msg = f"no subscription {ident.strip()[:40]!r} (`assetmap subscriptions` lists them)"
        raise AlertError(msg)
    return rows[0]


def _by_token(con: duckdb.DuckDBPyConnection, token: str) -> dict[str, Any]:
    rows = subs_db.by_token_hash(con, _token_hash((token or "").strip()))
    if not rows:
        msg = "this link is not one this service sent, or its subscription is gone"
        raise AlertError(msg)
    return rows[0]


def subscriptions(con: duckdb.DuckDBPyConnection, db_path: str | os.PathLike[str],
                  everything: bool = False) -> list[dict[str, Any]]:
    """Return the subscriptions (the ended ones too with ``everything``), each with its deliveries counted by status.

    Without secrets, tokens or baselines.
    """
    subs = [{**s, "address": _unseal(db_path, s["address"])}
            for s in subs_db.listed(con, everything)]
    counts = subs_db.delivery_counts(con)
    hidden = ("secret", "token", "token_hash", "address_hash", "baseline")
    return [{**{k: v for k, v in s.items() if k not in hidden}, "deliveries": counts.get(s["subscription_id"], {})}
            for s in subs]


def _masked(address: str) -> str:
    """Return an address as logs show it (no one's full email in a log)."""
    if "@" in address:
        user, _, domain = address.partition("@")
        return f"{user[:1]}…@{domain}"
    return urllib.parse.urlsplit(address).netloc or "…"


# -- what a subscription sees ----------------------------------------------------------------------

def _variant(sub: dict[str, Any]) -> str:
    return "partner" if sub["role"] == "partner" else "public"


def _latest(db_path: str | Path, variant: str) -> tuple[Path | None, str | None]:
    from assetmap.snapshots import latest_path

    path = latest_path(db_path, variant)
    return (path, path.stem) if path is not None and path.exists() else (None, None)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def _picture_now(db_path: str | Path, sub: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    path, sid = _latest(db_path, _variant(sub))
    if path is None:
        return None, None
    with _reading(path) as con:
        return picture(con, sub), sid


def scope_wards(con: duckdb.DuckDBPyConnection, sub: dict[str, Any]) -> list[str]:
    """Return the wards a subscription covers in the snapshot ``con`` reads.

    Its wards, and those of its authorities (a ward's authority is that of most of its output areas).
    """
    out = set(sub.get("wards") or [])
    if sub.get("las"):
        w = queries.wards(con)
        out |= set(w.loc[w["la_code"].isin(list(sub["las"])), "code"])
    return sorted(out)


def picture(con: duckdb.DuckDBPyConnection, sub: dict[str, Any], also: Iterable[str] = ()) -> dict[str, Any]:
    """Return what a subscription sees in one snapshot.

    ``sites`` (id -> name, category, ward, x, y in metres) in its wards and categories, ``gaps``
    ('ward|category' -> gap) and ``wards`` (code -> name); ``also``: more site ids to look up wherever they are
    now (to tell a move from a closure).
    """
    wards = scope_wards(con, sub)
    cats = sub.get("categories")
    rows = queries.sites_watched(con, wards, cats, sorted(set(also)))
    gaps = queries.gaps_watched(con, wards, cats)
    named = queries.ward_names(con, wards)
    in_scope = set(wards)
    return {"sites": {r[0]: [r[1], r[2], r[3], r[4], r[5]] for r in rows},
            "in_scope": sorted(r[0] for r in rows if r[3] in in_scope and (not cats or r[2] in cats)),
            "gaps": {f"{w}|{c}": g + 0.0 for w, c, g in gaps}, "wards": dict(named)}  # (+0.0: no "-0.000")


@dataclass
class Found:
    """What changed for one subscription between its baseline and a snapshot."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether anything changed."""
        return bool(self.changes or self.gaps)


def compare(before: dict[str, Any], after: dict[str, Any], sub: dict[str, Any]) -> Found:
    """Return the changes a subscription cares for, from its baseline ``before`` to ``after`` (both :func:`picture`).

    Sites opened (new in its place), closed (gone from the snapshot), moved (by at least :data:`MOVED_M`, into,
    within or out of its place), and each ward gap that rose (past ``threshold`` when it has one); with, for
    each ward and category a change touched, its gap before and after.
    """
    triggers = set(sub["triggers"])
    was, now = set(before.get("in_scope", [])), set(after.get("in_scope", []))
    sites_b, sites_a = before.get("sites", {}), after.get("sites", {})
    names = {**before.get("wards", {}), **after.get("wards", {})}
    changes: list[dict[str, Any]] = []
    for aid in sorted(was | now):
        b, a = sites_b.get(aid), sites_a.get(aid)
        moved = round(math.dist(b[3:5], a[3:5])) if a is not None and b is not None else None
        if aid not in was:  # new here: moved in from where the baseline saw it, or opened
            kind = "moved" if moved is not None and moved >= MOVED_M else "opened"
        elif a is None:
            kind = "closed"
        elif moved is not None and moved >= MOVED_M:
            kind = "moved"  # within its place, or out of it
        else:
            continue
        if kind not in triggers:
            continue
        site = b if kind == "closed" else a
        if site is None:
            continue
        ward = site[2]
        changes.append({"change": kind, "asset_id": aid, "name": site[0], "category": site[1],
                        "ward_code": ward, "ward_name": names.get(ward, ward),
                        "from_ward": b[2] if kind == "moved" and b is not None else None,
                        "moved_m": moved if kind == "moved" else None})
    gaps_b, gaps_a = before.get("gaps", {}), after.get("gaps", {})
    touched = {f"{c['ward_code']}|{c['category']}" for c in changes}
    touched |= {f"{c['from_ward']}|{c['category']}" for c in changes if c.get("from_ward")}
    gaps: list[dict[str, Any]] = []
    threshold = sub.get("threshold")
    for key in sorted(set(gaps_a) | set(gaps_b)):
        g0, g1 = gaps_b.get(key), gaps_a.get(key)
        rose = g0 is not None and g1 is not None and g1 > g0 and (threshold is None or g0 <= threshold < g1)
        if ("gap-rises" in triggers and rose) or (key in touched and g0 != g1):
            ward, cat = key.split("|", 1)
            gaps.append({"ward_code": ward, "ward_name": names.get(ward, ward), "category": cat, "before": g0,
                         "after": g1, "rose_past_threshold": bool(rose and "gap-rises" in triggers)})
    if not changes and not any(g["rose_past_threshold"] for g in gaps):
        return Found()
    return Found(changes, gaps)


# -- the messages ----------------------------------------------------------------------------------

def _label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def ward_link(code: str) -> str:
    """Return the public page of ward ``code``'s profile."""
    return f"{settings.public_url}/profile?ward={urllib.parse.quote(code)}"


def unsubscribe_link(token: str) -> str:
    """Return the link that ends the subscription whose token is ``token`` (one click)."""
    return f"{settings.public_url}/alerts/unsubscribe?token={urllib.parse.quote(token)}"


def confirm_link(token: str) -> str:
    """Return the link that confirms the pending subscription whose token is ``token``."""
    return f"{settings.public_url}/alerts/confirm?token={urllib.parse.quote(token)}"


def _where(sub: dict[str, Any]) -> str:
    parts = []
    if sub.get("region"):
        parts.append(str(sub["region"]))
    elif sub.get("las"):
        parts.append(f"{len(sub['las'])} local authorit{'y' if len(sub['las']) == 1 else 'ies'}")
    if sub.get("wards"):
        more = len(sub["wards"]) - 5
        parts.append(", ".join(sub["wards"][:5]) + (f" and {more} more" if more > 0 else ""))
    cats = ", ".join(_label(c) for c in sub["categories"]) if sub.get("categories") else "every category"
    return f"{'; '.join(parts)} ({cats})"


def _confirmation(sub: dict[str, Any]) -> tuple[str, str]:
    return ("assetmap: confirm your alerts",
            f"Someone (we hope you) asked to be told when provision changes in {_where(sub)}.\n")


def _with_links(d: Delivery) -> str:
    """Return a message's text with the links only its subscriber may hold.

    Return a message's text with the links only its subscriber may hold (added as it is sent, never stored: the
    token they carry is sealed in the store).
    """
    if d.kind == "confirm":
        return (d.body + f"\nConfirm, and nothing is sent until you do:\n{confirm_link(d.token)}\n\n"
                "If it was not you, ignore this message: you will hear nothing more.\n")
    return d.body + f"\nStop these messages: {unsubscribe_link(d.token)}\n"


def _gap(x: float | None) -> str:
    return "none" if x is None else f"{x:.3f}"


def message(sub: dict[str, Any], found: Found, snapshot_id: str,
            digest: bool = False) -> tuple[str, str, dict[str, Any]]:
    """Return the subject, the text and the data of one alert."""
    n = {k: sum(c["change"] == k for c in found.changes) for k in ("opened", "closed", "moved")}
    said = [f"{v} {k}" for k, v in n.items() if v]
    risen = [g for g in found.gaps if g["rose_past_threshold"]]
    if risen:
        said.append(f"{len(risen)} gap{'s' if len(risen) != 1 else ''} rose")
    wards = sorted({c["ward_name"] for c in found.changes} | {g["ward_name"] for g in risen})
    subject = (f"assetmap{' daily digest' if digest else ''}: {', '.join(said)} in "
               + (", ".join(wards[:_WARDS_NAMED])
                 + (f" and {len(wards) - _WARDS_NAMED} more" if len(wards) > _WARDS_NAMED else "")))
    lines = [f"What changed in {_where(sub)}" + (" since the last digest" if digest else "")
             + f" (snapshot {snapshot_id}):", ""]
    for c in found.changes:
        what = f"Moved {c['moved_m']:,} m" if c["change"] == "moved" else c["change"].capitalize()
        lines.append(f"- {what}: {c['name']} ({_label(c['category'])}), {c['ward_name']} ({c['ward_code']})")
    if found.gaps:
        lines += ["", "The gap (need beyond provision; higher is worse), before and after:"]
        for g in found.gaps:
            why = ""
            if g["rose_past_threshold"]:
                limit = sub.get("threshold")
                why = "  (rose)" if limit is None else f"  (rose past your threshold, {limit:g})"
            lines.append(f"- {g['ward_name']} ({g['ward_code']}), {_label(g['category'])}: {_gap(g['before'])} -> "
                         f"{_gap(g['after'])}{why}")
    codes = sorted({c["ward_code"] for c in found.changes} | {g["ward_code"] for g in found.gaps})
    lines += ["", "See the ward" + ("s" if len(codes) > 1 else "") + ":"]
    lines += [f"  {ward_link(c)}" for c in codes[:10]]
    if sub["role"] == "public":
        lines.append("Refugee support venues and women-only spaces are never named or located in these messages.")
    data = {"subscription_id": sub["subscription_id"], "snapshot_id": snapshot_id, "digest": digest,
            "changes": found.changes, "gaps": found.gaps, "links": {c: ward_link(c) for c in codes}}
    return subject, "\n".join(lines) + "\n", data


# -- planning, claiming, sending, recording --------------------------------------------------------

def plan(store: Store, now: _dt.datetime | None = None) -> int:
    """Plan what the latest snapshots mean for each active subscription (see the module's text).

    Return the number of messages planned.
    """
    now = now or _now()
    planned = 0
    subs = subs_db.active(store.con)
    for variant in ("partner", "public"):
        mine = [s for s in subs if _variant(s) == variant]
        if not mine:
            continue
        path, snap = _latest(store.path, variant)
        if path is None or snap is None:
            continue
        with _reading(path) as con:
            for sub in mine:
                if sub["baseline_snapshot"] == snap:
                    continue
                due = sub["mode"] == "immediate" or (
                    sub["last_digest_at"] is None
                    # (a few minutes early is on time: a run due at the hour must not miss the day by seconds)
                    or now - sub["last_digest_at"] >= _dt.timedelta(hours=settings.digest_hours, minutes=-10))
                if not due:
                    continue
                before = json.loads(sub["baseline"]) if sub["baseline"] else None
                after = picture(con, sub, also=(before or {}).get("in_scope", []))
                found = compare(before, after, sub) if before else Found()
                with store.transaction() as tx:
                    if found:
                        digest = sub["mode"] == "daily"
                        subject, body, data = message(sub, found, snap, digest=digest)
                        outgoing = subs_db.Planned(sub["subscription_id"], f"digest:{snap}" if digest else snap,
                                                   "digest" if digest else "alert", snap, subject, body,
                                                   json.dumps(data, default=str) if data else None)
                        planned += subs_db.plan(tx, outgoing, now)
                    subs_db.set_baseline(tx, sub["subscription_id"], json.dumps(after), snap,
                                         now if sub["mode"] == "daily" else sub["last_digest_at"])
    return planned


@dataclass(frozen=True)
class Delivery:
    """One message claimed for sending, with where it goes (address, secret and token unsealed)."""

    subscription_id: str
    key: str
    kind: str
    subject: str
    body: str
    data: dict[str, Any] | None
    attempts: int
    channel: str
    address: str
    secret: str
    token: str


def claim(store: Store, now: _dt.datetime | None = None, who: str = "") -> list[Delivery]:
    """Take the deliveries that are due (``sending``, claimed by ``who``).

    A claim older than :data:`CLAIM_LEASE_S` was a lost process's: ``interrupted``, never sent twice.
    """
    now = now or _now()
    with store.transaction() as con:
        rows = subs_db.claim_due(con, who, now, now - _dt.timedelta(seconds=CLAIM_LEASE_S))
        subs = {s["subscription_id"]: s for s in subs_db.with_ids(con, sorted({r[0] for r in rows}))}
    out = []
    for r in rows:
        sub = subs[r[0]]
        address, secret, token = (_unseal(store.path, sub[k]) for k in ("address", "secret", "token"))
        out.append(Delivery(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else None, r[6], sub["channel"],
                            address, secret, token))
    return out


def record(store: Store, outcomes: list[tuple[Delivery, str | None]],
           now: _dt.datetime | None = None) -> dict[str, int]:
    """Record what sending did (``None``: sent; else the error): sent, retried later, or given up."""
    now = now or _now()
    counts = {"sent": 0, "retry": 0, "given_up": 0}
    with store.transaction() as con:
        for d, error in outcomes:
            tries = d.attempts + 1
            if error is None:
                status, when = "sent", now
            elif tries >= settings.alert_tries:
                status, when = "given_up", now
            else:
                status, when = "pending", now + _dt.timedelta(seconds=settings.alert_backoff_s * 2 ** (tries - 1))
            counts["retry" if status == "pending" else status] += 1
            subs_db.record(con, d.subscription_id, d.key, status, tries, error, when, now)
            if error is not None:
                log.warning("alert %s/%s to %s: attempt %d failed (%s)%s", d.subscription_id, d.key,
                            _masked(d.address), tries, error, "; given up" if status == "given_up" else "")
    return counts


def signature(secret: str, text: str, at: int) -> str:
    """Return the webhook signature (:data:`SIGNATURE_HEADER`) of ``text`` sent at unix time ``at``."""
    digest = hmac.new(secret.encode(), f"{at}.{text}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},sha256={digest}"


def verify(secret: str, text: str, header: str, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Whether a webhook's ``text`` (its ``message``) carries a good, fresh signature.

    What a receiver does.
    """
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        at = int(parts["t"])
    except (ValueError, KeyError):
        return False
    fresh = abs((now if now is not None else time.time()) - at) <= tolerance_s
    return fresh and hmac.compare_digest(signature(secret, text, at), header)


@dataclass(frozen=True)
class MailServer:
    """The mail server ``ASSETMAP_SMTP_URL`` names.

    ``smtp://[user:password@]host[:port][?tls=starttls|none][&verify=no]`` or ``smtps://…`` (TLS at once).
    """

    host: str
    port: int
    tls: str  # starttls, ssl or none
    verify: bool
    user: str
    password: str

    @classmethod
    def of(cls, url: str) -> MailServer:
        """Return the mail server an ``smtp://`` or ``smtps://`` URL names, or :class:`AlertError`."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            msg = (f"ASSETMAP_SMTP_URL must be smtp://[user:password@]host[:port] or smtps://…, "
                   f"not {parts.scheme}://…")
            raise AlertError(msg)
        query = dict(urllib.parse.parse_qsl(parts.query))
        tls = "ssl" if parts.scheme == "smtps" else query.get("tls", "starttls")
        if tls not in ("starttls", "ssl", "none"):
            msg = f"ASSETMAP_SMTP_URL's tls must be starttls, ssl or none, not {tls!r}"
            raise AlertError(msg)
        return cls(parts.hostname, parts.port or {"starttls": 587, "ssl": 465, "none": 25}[tls], tls,
                   query.get("verify") != "no", urllib.parse.unquote(parts.username or ""),
                   urllib.parse.unquote(parts.password or ""))

    def apprise_url(self, to: str) -> str:
        """Return the apprise URL that sends to ``to`` through this server."""
        auth = ""
        if self.user:
            auth = urllib.parse.quote(self.user, safe="")
            if self.password:
                auth += ":" + urllib.parse.quote(self.password, safe="")
            auth += "@"
        args = {"from": settings.mail_from, "to": to, "format": "text", "smtp": self.host, "user": self.user or None,
                "cto": str(settings.alert_timeout_s), "rto": str(settings.alert_timeout_s)}
        if self.tls != "none":
            args.update(mode=self.tls, verify="yes" if self.verify else "no")
        q = urllib.parse.urlencode({k: v for k, v in args.items() if v})
        return f"{'mailto' if self.tls == 'none' else 'mailtos'}://{auth}{self.host}:{self.port}?{q}"


def _send_with(url: str, headers: dict[str, str], title: str, body: str) -> str | None:
    """Send through apprise; None when the server took it, else what went wrong."""
    import apprise

    obj = apprise.Apprise.instantiate(url)
    if obj is None:
        return f"cannot send to {_masked(url)}"
    obj.headers.update(headers)  # type: ignore[attr-defined]  # (the email and JSON plugins' headers)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call]
        ok = obj.notify(body=body, title=title)
    if ok:
        return None
    said = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
    return (said[-1] if said else "the server did not take the message")[:300]


def send(d: Delivery) -> str | None:
    """Send one delivery (email or webhook); None when it went, else the error."""
    try:
        if d.channel == "email":
            if not settings.smtp_url:
                return "no mail server is set: ASSETMAP_SMTP_URL"
            link = unsubscribe_link(d.token)
            headers = {"List-Unsubscribe": f"<{link}>"} if d.kind != "confirm" else {}
            if headers:
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            headers["X-Assetmap-Subscription"] = d.subscription_id
            return _send_with(MailServer.of(settings.smtp_url).apprise_url(d.address), headers, d.subject,
                              _with_links(d))
        text = json.dumps(d.data or {"subject": d.subject, "text": d.body}, sort_keys=True, default=str)
        parts = urllib.parse.urlsplit(d.address)
        url = urllib.parse.urlunsplit(("jsons" if parts.scheme == "https" else "json", parts.netloc, parts.path,
                                       parts.query, ""))
        sep = "&" if parts.query else "?"
        url += f"{sep}cto={settings.alert_timeout_s}&rto={settings.alert_timeout_s}"
        return _send_with(url, {SIGNATURE_HEADER: signature(d.secret, text, int(time.time())),
                                "X-Assetmap-Subscription": d.subscription_id}, d.subject, text)
    except AlertError as exc:
        return str(exc)
    except Exception as exc:  # a sender's surprise is this message's failure, not the run's
        log.debug("sending %s/%s failed", d.subscription_id, d.key, exc_info=True)
        return f"{type(exc).__name__}: {exc}"[:300]


@dataclass
class NotifyReport:
    """What one :func:`notify` did: messages planned, sent, to retry, given up and still waiting."""

    planned: int = 0
    sent: int = 0
    retry: int = 0
    given_up: int = 0
    pending: int = 0
    #: when something is next due (a message to try again, a digest), for the caller to come back
    next_due: _dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return {**self.__dict__, "next_due": self.next_due.isoformat() if self.next_due else None}


def next_due(store: Store) -> _dt.datetime | None:
    """Return the earliest moment something will be due.

    A message waiting to be tried again, or an active digest subscription's next digest (UTC, naive).
    """
    retry = subs_db.next_retry(store.con)
    digest = subs_db.next_digest_from(store.con)
    if digest is not None:
        digest += _dt.timedelta(hours=settings.digest_hours)
    due = [d for d in (retry, digest) if d is not None]
    return min(due) if due else None


def notify(open_store: Callable[[], contextlib.AbstractContextManager[Store]], now: _dt.datetime | None = None,
           who: str = "") -> NotifyReport:
    """Plan, claim, send and record (see the module's text).

    ``open_store`` opens the working store for writing (the pipeline's takes the store's writer limit first); it
    is held only while planning and recording, never while a server is asked.
    """
    report = NotifyReport()
    with open_store() as store:
        report.planned = plan(store, now)
        batch = claim(store, now, who)
        if not batch:
            report.pending = subs_db.pending(store.con)
            report.next_due = next_due(store)
    if batch:
        outcomes = [(d, send(d)) for d in batch]
        with open_store() as store:
            counts = record(store, outcomes)
            report.sent, report.retry, report.given_up = counts["sent"], counts["retry"], counts["given_up"]
            report.pending = subs_db.pending(store.con)
            report.next_due = next_due(store)
    return report


# -- requests from the dashboard (through the inbox) -----------------------------------------------

REQUEST_KEY = "assetmap_alert"


def is_request(payload: Any) -> bool:
    """Whether ``payload`` is an alert request from the dashboard (not a submission)."""
    return isinstance(payload, dict) and REQUEST_KEY in payload


def request(action: str, **fields: Any) -> dict[str, Any]:
    """Return a request the dashboard drops into the inbox.

    ``subscribe`` (email, wards, categories, on, role), ``confirm`` or ``unsubscribe`` (token).
    """
    if action not in ("subscribe", "confirm", "unsubscribe"):
        msg = f"no alert action {action!r}"
        raise AlertError(msg)
    if action == "subscribe":
        check_email(fields.get("email") or "")
    elif not fields.get("token"):
        msg = "the link has no token"
        raise AlertError(msg)
    return {REQUEST_KEY: action, **{k: v for k, v in fields.items() if v is not None}}


def to_inbox(payload: dict[str, Any], inbox: str | os.PathLike[str]) -> Path:
    """Drop a request (:func:`request`) into ``inbox/submissions/`` for the pipeline.

    Drop a request (:func:`request`) into ``inbox/submissions/`` for the pipeline to carry out, whole (written
    under a hidden name, then renamed) and named by its content, so a link followed twice is one request.
    """
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    folder = Path(inbox) / "submissions"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"alert-{hashlib.sha256(text.encode()).hexdigest()[:20]}.json"
    tmp = folder / f".{final.name}.part"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, final)
    return final


def take_request(store: Store, payload: dict[str, Any]) -> dict[str, Any]:
    """Carry out a dashboard's request (:func:`request`); raises :class:`AlertError` for a bad one."""
    action = payload.get(REQUEST_KEY)
    if action == "subscribe":
        wanted = Wanted(wards=list(payload.get("wards") or []), las=list(payload.get("las") or []),
                        categories=payload.get("categories") or None, on=payload.get("on") or TRIGGERS,
                        threshold=payload.get("threshold"), mode=str(payload.get("mode") or "immediate"),
                        role="partner" if payload.get("role") == "partner" else "public")
        sub = subscribe(store, wanted, email=str(payload.get("email") or ""), confirmed=False, made_by="dashboard")
        return {"action": action, "subscription_id": sub["subscription_id"], "status": sub["status"]}
    if action == "confirm":
        sub = confirm(store, str(payload.get("token") or ""))
        return {"action": action, "subscription_id": sub["subscription_id"], "status": sub["status"]}
    if action == "unsubscribe":
        sub = unsubscribe(store, str(payload.get("token") or ""), by_token=True)
        return {"action": action, "subscription_id": sub["subscription_id"], "status": sub["status"]}
    msg = f"no alert action {str(action)[:40]!r}"
    raise AlertError(msg)
