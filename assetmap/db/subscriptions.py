"""The SQL of alerts (:mod:`assetmap.alerts`).

Who is told what (``subscriptions``) and the queue of messages planned, claimed, sent and retried (``deliveries``).

Addresses, secrets and tokens arrive here sealed; this module stores and returns them as they are.
Every value is a parameter; the only SQL put together is :func:`_select`'s, from fixed conditions.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import duckdb

#: the columns a subscription is read with, in order
SUB_COLUMNS = ("subscription_id", "channel", "address", "wards", "las", "region", "categories", "triggers",
               "threshold", "mode", "role", "status", "secret", "token", "made_by", "created_at", "confirmed_at",
               "ended_at", "baseline", "baseline_snapshot", "last_digest_at")

_INSERTED = ("subscription_id", "channel", "address", "wards", "las", "region", "categories", "triggers",
             "threshold", "mode", "role", "status", "secret", "token", "token_hash", "address_hash", "made_by",
             "created_at", "confirmed_at", "baseline", "baseline_snapshot", "last_digest_at")


def _select(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Return the subscriptions that ``where`` (one of this module's fixed conditions) selects."""
    rows = con.execute(f"SELECT {', '.join(SUB_COLUMNS)} FROM subscriptions WHERE {where} "  # noqa: S608 (constants)
                       "ORDER BY created_at, subscription_id", params).fetchall()
    return [dict(zip(SUB_COLUMNS, r, strict=True)) for r in rows]


# -- subscriptions -------------------------------------------------------------------------------

def by_id(con: duckdb.DuckDBPyConnection, subscription_id: str) -> list[dict[str, Any]]:
    """Return the subscription with this id (none or one)."""
    return _select(con, "subscription_id = ?", [subscription_id])


def by_token_hash(con: duckdb.DuckDBPyConnection, token_hash: str) -> list[dict[str, Any]]:
    """Return the subscription whose links carry the token of this hash (none or one)."""
    return _select(con, "token_hash = ?", [token_hash])


def with_ids(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[dict[str, Any]]:
    """Return the subscriptions with these ids."""
    return _select(con, "list_contains(?, subscription_id)", [ids])


def active(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Return the active subscriptions."""
    return _select(con, "status = 'active'", [])


def listed(con: duckdb.DuckDBPyConnection, everything: bool = False) -> list[dict[str, Any]]:
    """Return the subscriptions not ended (every one with ``everything``)."""
    return _select(con, "true" if everything else "status <> 'unsubscribed'", [])


#: What makes two subscriptions of one address the same, beside its channel.
ASKED = ("wards", "las", "categories", "triggers", "threshold", "mode", "role")


def same_as(con: duckdb.DuckDBPyConnection, address_hash: str, channel: str,
            asked: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the subscriptions, not ended, that ask the same (``asked``: :data:`ASKED`) of the same address."""
    return _select(con, """address_hash = ? AND channel = ? AND status <> 'unsubscribed' AND wards = ?
                           AND las = ? AND categories IS NOT DISTINCT FROM ? AND triggers = ?
                           AND threshold IS NOT DISTINCT FROM ? AND mode = ? AND role = ?""",
                   [address_hash, channel, *(asked[k] for k in ASKED)])


def pending_for(con: duckdb.DuckDBPyConnection, address_hash: str) -> int:
    """How many subscriptions of this address wait for their confirmation."""
    row = con.execute("SELECT count(*) FROM subscriptions WHERE address_hash = ? AND status = 'pending'",
                      [address_hash]).fetchone()
    return int(row[0]) if row else 0


def add(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    """Store a new subscription (``values`` has every stored column)."""
    con.execute(
        """INSERT INTO subscriptions (subscription_id, channel, address, wards, las, region, categories,
               triggers, threshold, mode, role, status, secret, token, token_hash, address_hash, made_by,
               created_at, confirmed_at, baseline, baseline_snapshot, last_digest_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [values[k] for k in _INSERTED])


def start(con: duckdb.DuckDBPyConnection, subscription_id: str, now: _dt.datetime, baseline: str | None,
          snapshot_id: str | None) -> None:
    """Make a pending subscription active from ``now``, with what it saw then."""
    con.execute(
        """UPDATE subscriptions SET status = 'active', confirmed_at = ?, baseline = ?, baseline_snapshot = ?,
               last_digest_at = ? WHERE subscription_id = ?""", [now, baseline, snapshot_id, now, subscription_id])


def end(con: duckdb.DuckDBPyConnection, subscription_id: str, now: _dt.datetime) -> None:
    """End a subscription and cancel what it had waiting to be sent."""
    con.execute("UPDATE subscriptions SET status = 'unsubscribed', ended_at = ? WHERE subscription_id = ?",
                [now, subscription_id])
    con.execute("UPDATE deliveries SET status = 'cancelled' WHERE subscription_id = ? AND status = 'pending'",
                [subscription_id])


def set_baseline(con: duckdb.DuckDBPyConnection, subscription_id: str, baseline: str, snapshot_id: str,
                 last_digest_at: _dt.datetime | None) -> None:
    """Remember what a subscription saw in ``snapshot_id`` (and when its last digest went)."""
    con.execute("UPDATE subscriptions SET baseline = ?, baseline_snapshot = ?, last_digest_at = ? "
                "WHERE subscription_id = ?", [baseline, snapshot_id, last_digest_at, subscription_id])


def next_digest_from(con: duckdb.DuckDBPyConnection) -> _dt.datetime | None:
    """Return the earliest last digest of an active daily subscription."""
    row = con.execute("SELECT min(last_digest_at) FROM subscriptions "
                      "WHERE status = 'active' AND mode = 'daily'").fetchone()
    return row[0] if row else None


# -- deliveries ----------------------------------------------------------------------------------

def delivery_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Each subscription's deliveries counted by status."""
    counts: dict[str, dict[str, int]] = {}
    for sid, status, n in con.execute("SELECT subscription_id, status, count(*) FROM deliveries GROUP BY ALL"
                                      ).fetchall():
        counts.setdefault(sid, {})[status] = n
    return counts


@dataclass(frozen=True)
class Planned:
    """A message to send.

    To which subscription, its key (one per subscription), kind, the snapshot it is about, its
    subject, text and data (JSON text).
    """

    subscription_id: str
    key: str
    kind: str
    snapshot_id: str | None
    subject: str
    body: str
    data: str | None


def plan(con: duckdb.DuckDBPyConnection, message: Planned, now: _dt.datetime) -> bool:
    """Plan a delivery due ``now``, unless that (subscription, key) has one: True when this call added it."""
    row = con.execute(
        """INSERT INTO deliveries (subscription_id, key, kind, snapshot_id, subject, body, data, status, next_at,
               created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING RETURNING key""",
        [message.subscription_id, message.key, message.kind, message.snapshot_id, message.subject, message.body,
         message.data, now, now]).fetchone()
    return row is not None


def claim_due(con: duckdb.DuckDBPyConnection, who: str, now: _dt.datetime,
              lost_before: _dt.datetime) -> list[tuple[Any, ...]]:
    """Claim for ``who`` the deliveries due at ``now``, after freeing those a lost process held.

    Mark the claims made before ``lost_before`` as interrupted (their process was lost), then claim for ``who``
    the deliveries due at ``now`` of the subscriptions that may receive them: ``subscription_id, key, kind,
    subject, body, data, attempts`` of each.
    """
    con.execute("""UPDATE deliveries SET status = 'interrupted', error = 'the sending process was lost'
                   WHERE status = 'sending' AND claimed_at < ?""", [lost_before])
    return con.execute(
        """UPDATE deliveries d SET status = 'sending', claimed_by = ?, claimed_at = ?
           FROM subscriptions s
           WHERE s.subscription_id = d.subscription_id AND d.status = 'pending' AND d.next_at <= ?
             AND (s.status = 'active' OR d.kind = 'confirm' AND s.status = 'pending')
           RETURNING d.subscription_id, d.key, d.kind, d.subject, d.body, d.data, d.attempts""",
        [who, now, now]).fetchall()


def record(con: duckdb.DuckDBPyConnection, subscription_id: str, key: str, status: str, attempts: int,
           error: str | None, next_at: _dt.datetime, now: _dt.datetime) -> None:
    """Record how a claimed delivery went.

    ``status`` after ``attempts`` tries (sent at ``now`` when ``sent``; tried again at ``next_at`` when
    ``pending``).
    """
    con.execute(
        """UPDATE deliveries SET status = ?, attempts = ?, error = ?, next_at = ?,
               sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END
           WHERE subscription_id = ? AND key = ? AND status = 'sending'""",
        [status, attempts, error, next_at, status, now, subscription_id, key])


def pending(con: duckdb.DuckDBPyConnection) -> int:
    """How many deliveries wait to be sent."""
    row = con.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'").fetchone()
    return int(row[0]) if row else 0


def next_retry(con: duckdb.DuckDBPyConnection) -> _dt.datetime | None:
    """When the earliest waiting delivery is due."""
    row = con.execute("SELECT min(next_at) FROM deliveries WHERE status = 'pending'").fetchone()
    return row[0] if row else None
