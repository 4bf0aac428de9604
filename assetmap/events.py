"""The events vocabulary: the contract between the library and the pipelines.

Each event is appended to the store's ``events`` table. Where a pipeline is running with a
Prefect server it registers an emitter (:func:`register_emitter`) that forwards the event; the
library itself never imports Prefect.

=================================  ==========================================================
event                              payload
=================================  ==========================================================
``assetmap.file.received``         path, sha256, size (sha256 null and size 0 for an
                                   entry that is not a regular file: never read)
``assetmap.ingest.completed``      ingest_id, path, kind, rows_read, rows_accepted,
                                   rows_quarantined, affected_wards
``assetmap.ingest.failed``         path, sha256, reason_code, message
``assetmap.assets.changed``        ingest_id, ward_codes
``assetmap.snapshot.published``    snapshot_id
=================================  ==========================================================
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from assetmap.vocab.events import (
    ASSETS_CHANGED,
    EVENT_NAMES,
    FILE_RECEIVED,
    INGEST_COMPLETED,
    INGEST_FAILED,
    SNAPSHOT_PUBLISHED,
)

log = logging.getLogger(__name__)

__all__ = ["ASSETS_CHANGED", "FILE_RECEIVED", "INGEST_COMPLETED", "INGEST_FAILED", "SNAPSHOT_PUBLISHED",
           "VOCABULARY", "clear_emitters", "emit", "record", "register_emitter"]

VOCABULARY = EVENT_NAMES

Emitter = Callable[[str, dict[str, Any]], None]
_emitters: list[Emitter] = []


def register_emitter(emitter: Emitter) -> None:
    """Forward every recorded event to ``emitter(name, payload)`` once it is committed."""
    _emitters.append(emitter)


def clear_emitters() -> None:
    _emitters.clear()


def record(con: Any, name: str, payload: dict[str, Any]) -> str:
    """Append an event to the ``events`` table through ``con``; return its id.

    Raises
    ------
    ValueError
        When ``name`` is not in the vocabulary.
    """
    if name not in VOCABULARY:
        raise ValueError(f"unknown event {name!r}; the vocabulary is {VOCABULARY}")
    event_id = str(uuid.uuid4())
    con.execute(
        "INSERT INTO events (event_id, name, payload, occurred_at) VALUES (?, ?, ?, ?)",
        [event_id, name, json.dumps(payload, default=str, sort_keys=True),
         _dt.datetime.now(_dt.UTC).replace(tzinfo=None)],
    )
    return event_id


def emit(name: str, payload: dict[str, Any]) -> None:
    """Send a committed event to the registered emitters; an emitter's failure is logged."""
    for emitter in list(_emitters):
        try:
            emitter(name, payload)
        except Exception:  # an unreachable server must not fail an ingest that committed
            log.exception("event emitter failed for %s", name)
