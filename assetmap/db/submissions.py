"""The SQL of submissions (:mod:`assetmap.submissions`).

Places the public suggests, kept pending until a moderator approves (stored as an asset) or rejects them (with a
reason).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import duckdb

_LISTED = ("submission_id", "status", "payload", "source_path", "submitted_at", "decided_at", "reason", "asset_id")


def add(con: duckdb.DuckDBPyConnection, submission_id: str, payload: str, source_path: str | None,
        now: _dt.datetime) -> None:
    """Record a pending submission (nothing, when one with this id exists)."""
    con.execute(
        """INSERT INTO submissions (submission_id, status, payload, source_path, submitted_at)
           VALUES (?, 'pending', ?, ?, ?) ON CONFLICT (submission_id) DO NOTHING""",
        [submission_id, payload, source_path, now])


def listed(con: duckdb.DuckDBPyConnection, status: str | None = None) -> list[dict[str, Any]]:
    """Every submission (of ``status``, when given) in the order they came, payload as stored."""
    rows = con.execute(
        """SELECT submission_id, status, payload, source_path, submitted_at, decided_at, reason, asset_id
           FROM submissions WHERE ? IS NULL OR status = ? ORDER BY submitted_at, submission_id""",
        [status, status]).fetchall()
    return [dict(zip(_LISTED, r, strict=True)) for r in rows]


def status_and_payload(con: duckdb.DuckDBPyConnection, submission_id: str) -> tuple[str, str] | None:
    """Return a submission's status and payload as stored (None: no such submission)."""
    row = con.execute("SELECT status, payload FROM submissions WHERE submission_id = ?", [submission_id]).fetchone()
    return None if row is None else (row[0], row[1])


def asset_of(con: duckdb.DuckDBPyConnection, source: str, record_id: str) -> str | None:
    """Return the id of the asset stored from ``source``'s record ``record_id``."""
    row = con.execute("SELECT asset_id FROM assets WHERE source = ? AND source_record_id = ?",
                      [source, record_id]).fetchone()
    return None if row is None else row[0]


def approved(con: duckdb.DuckDBPyConnection, submission_id: str, asset_id: str | None, now: _dt.datetime) -> None:
    """Record that a submission was approved and stored as ``asset_id``."""
    con.execute("UPDATE submissions SET status = 'approved', decided_at = ?, asset_id = ? "
                "WHERE submission_id = ?", [now, asset_id, submission_id])


def rejected(con: duckdb.DuckDBPyConnection, submission_id: str, reason: str, now: _dt.datetime) -> None:
    """Record that a submission was rejected, and why."""
    con.execute("UPDATE submissions SET status = 'rejected', decided_at = ?, reason = ? "
                "WHERE submission_id = ?", [now, reason, submission_id])
