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
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from assetmap.db import audit
from assetmap.vocab.event_names import (
    ASSETS_CHANGED,
    EVENT_NAMES,
    FILE_RECEIVED,
    INGEST_COMPLETED,
    INGEST_FAILED,
    SNAPSHOT_PUBLISHED,
)

log = logging.getLogger(__name__)

__all__ = ["ASSETS_CHANGED", "FILE_RECEIVED", "INGEST_COMPLETED", "INGEST_FAILED", "SNAPSHOT_PUBLISHED",
           "VOCABULARY", "AssetsChanged", "Event", "FileReceived", "IngestCompleted", "IngestFailed",
           "SnapshotPublished", "announce", "clear_emitters", "register_emitter"]

VOCABULARY = EVENT_NAMES

Emitter = Callable[[str, dict[str, Any]], None]
_emitters: list[Emitter] = []


@dataclass(frozen=True)
class Event:
    """One event: its ``name`` (a class constant from the vocabulary) and its fields, the payload."""

    name: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """Return the event's fields, as its JSON payload."""
        return asdict(self)


@dataclass(frozen=True)
class FileReceived(Event):
    """A file reached the inbox (``sha256`` None and ``size`` 0 for an entry never read)."""

    name: ClassVar[str] = FILE_RECEIVED
    path: str
    sha256: str | None
    size: int


@dataclass(frozen=True)
class IngestCompleted(Event):
    """A file was stored: its row accounting and the wards it reaches."""

    name: ClassVar[str] = INGEST_COMPLETED
    ingest_id: int
    path: str
    kind: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    affected_wards: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IngestFailed(Event):
    """A file was refused; nothing but the audit record was stored."""

    name: ClassVar[str] = INGEST_FAILED
    ingest_id: int
    path: str
    sha256: str | None
    reason_code: str
    message: str


@dataclass(frozen=True)
class AssetsChanged(Event):
    """Assets were added, altered or moved: the wards whose analysis must be recomputed."""

    name: ClassVar[str] = ASSETS_CHANGED
    ingest_id: int
    ward_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotPublished(Event):
    """A snapshot of the store was published for the dashboards."""

    name: ClassVar[str] = SNAPSHOT_PUBLISHED
    snapshot_id: str
    reason: str
    last_ingest_id: int | None


class _Store(Protocol):
    """What :func:`announce` needs of a :class:`~assetmap.db.store.Store`."""

    con: Any

    def on_commit(self, callback: Callable[[], None]) -> None: ...

    def transaction(self) -> Any: ...

    @property
    def in_transaction(self) -> bool: ...


def register_emitter(emitter: Emitter) -> None:
    """Forward every recorded event to ``emitter(name, payload)`` once it is committed."""
    _emitters.append(emitter)


def clear_emitters() -> None:
    """Forget every registered emitter (events are then only recorded in the store)."""
    _emitters.clear()


def announce(store: _Store, event: Event, *, emit: bool = True) -> str:
    """Record ``event`` in the store, then send it to the registered emitters.

    Record ``event`` in the store's ``events`` table and, once that is committed, send it to the registered
    emitters (the pipelines forward it to Prefect). Returns the event's id.

    Inside :meth:`Store.transaction <assetmap.db.store.Store.transaction>` the event is part of that
    transaction (rolled back with it, never emitted then); outside, it is its own. ``emit=False``
    records only (the watcher has told the server of a file already).
    """
    if event.name not in VOCABULARY:
        msg = f"unknown event {event.name!r}; the vocabulary is {VOCABULARY}"
        raise ValueError(msg)
    payload = event.payload()
    if store.in_transaction:
        event_id = _record(store.con, event.name, payload)
    else:
        with store.transaction() as con:
            event_id = _record(con, event.name, payload)
    if emit:
        store.on_commit(lambda: _emit(event.name, payload))
    return event_id


def _record(con: Any, name: str, payload: dict[str, Any]) -> str:
    event_id = str(uuid.uuid4())
    audit.record_event(con, event_id, name, json.dumps(payload, default=str, sort_keys=True),
                       _dt.datetime.now(_dt.UTC).replace(tzinfo=None))
    return event_id


def _emit(name: str, payload: dict[str, Any]) -> None:
    """Send a committed event to the registered emitters; an emitter's failure is logged."""
    for emitter in list(_emitters):
        try:
            emitter(name, payload)
        except Exception:  # an unreachable server must not fail an ingest that committed
            log.exception("event emitter failed for %s", name)
