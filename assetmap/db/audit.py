"""The store's own record of what happened to it.

Each ingest (taken, unchanged or refused, with its counts), the rows it quarantined and why, and the events
announced (:mod:`assetmap.ingest`, :mod:`assetmap.events`).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    import pandas as pd


def previous_ingest(con: duckdb.DuckDBPyConnection, sha256: str, options: str) -> int | None:
    """Return the latest completed ingest of the same bytes with the same options (None: none)."""
    row = con.execute("SELECT ingest_id FROM ingests WHERE sha256 = ? AND options = ? AND status = 'completed' "
                      "ORDER BY ingest_id DESC LIMIT 1", [sha256, options]).fetchone()
    return None if row is None else int(row[0])


def record_refusal(con: duckdb.DuckDBPyConnection, refusal: dict[str, Any]) -> None:
    """Record a file refused whole: nothing read, nothing stored, and why.

    ``refusal`` holds the ingest's ``ingest_id, path, sha256, kind, options, started_at,
    finished_at`` and ``message``.
    """
    con.execute(
        """INSERT INTO ingests (ingest_id, path, sha256, kind, options, rows_read, rows_accepted,
                                rows_quarantined, started_at, finished_at, status, message)
           VALUES ($ingest_id, $path, $sha256, $kind, $options, 0, 0, 0, $started_at, $finished_at, 'refused',
                   $message)""", refusal)


def begin_ingest(con: duckdb.DuckDBPyConnection, ingest_id: int, path: str, sha256: str, kind: str,
                 options: str, started: _dt.datetime) -> None:
    """Record an ingest as it starts (inside its transaction, so it is kept only if it completes)."""
    con.execute("""INSERT INTO ingests (ingest_id, path, sha256, kind, options, started_at, status)
                   VALUES (?, ?, ?, ?, ?, ?, 'completed')""", [ingest_id, path, sha256, kind, options, started])


def quarantine(con: duckdb.DuckDBPyConnection, ingest_id: int, rows: pd.DataFrame) -> None:
    """Keep the rows an ingest could not store (``row_number, raw, reason_code, message``)."""
    con.register("_q", rows[["row_number", "raw", "reason_code", "message"]])
    try:
        con.execute("INSERT INTO quarantine (ingest_id, row_number, raw, reason_code, message) "
                    "SELECT ?, row_number, raw, reason_code, message FROM _q", [ingest_id])
    finally:
        con.unregister("_q")


def finish_ingest(con: duckdb.DuckDBPyConnection, ingest_id: int, rows_read: int, accepted: int, quarantined: int,
                  finished: _dt.datetime, message: str) -> None:
    """Record an ingest's counts and note as it ends."""
    con.execute("""UPDATE ingests SET rows_read = ?, rows_accepted = ?, rows_quarantined = ?,
                          finished_at = ?, message = ? WHERE ingest_id = ?""",
                [rows_read, accepted, quarantined, finished, message, ingest_id])


def record_event(con: duckdb.DuckDBPyConnection, event_id: str, name: str, payload: str,
                 occurred: _dt.datetime) -> None:
    """Keep an announced event (``payload`` as JSON text)."""
    con.execute("INSERT INTO events (event_id, name, payload, occurred_at) VALUES (?, ?, ?, ?)",
                [event_id, name, payload, occurred])
