"""Ingest: read a file, validate its rows, and store them in one transaction.

Guarantees
----------
- every row read is stored or quarantined with a reason: ``rows_read = rows_accepted +
  rows_quarantined`` (checked before commit, and by the table's CHECK constraint);
- a file that cannot be read at all is refused: the data tables are left exactly as they were,
  and the refusal is recorded in ``ingests`` and ``events``;
- the same bytes with the same options, once taken, are a no-op.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd

from assetmap import events, sources
from assetmap.db import audit
from assetmap.db.store import Store
from assetmap.settings import settings
from assetmap.sources._io import FileRefused, ReadResult, read_bytes, sha256_bytes
from assetmap.sources.registry import Written

log = logging.getLogger(__name__)

#: Options that change what a file's rows become; with the file's hash they key idempotence.
READ_OPTIONS = ("kind", "mapping", "category", "source", "vintage", "licence", "level",
                "code_field", "name_field", "variable", "effective", "closes_missing", "service_date")

Progress = Callable[[str], None]


@dataclass
class IngestResult:
    """What happened to one file."""

    path: str
    status: str  # completed | unchanged | refused
    ingest_id: int | None = None
    kind: str | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    message: str = ""
    reason_code: str | None = None
    affected_wards: list[str] = field(default_factory=list)
    assets_changed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values."""
        return asdict(self)


class IngestError(Exception):
    """A file was refused; ``result`` says why."""

    def __init__(self, result: IngestResult) -> None:
        super().__init__(result.message)
        self.result = result


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def _options_key(options: dict[str, Any]) -> str:
    clean = {k: options[k] for k in READ_OPTIONS if options.get(k) not in (None, "", [], {})}
    if isinstance(clean.get("mapping"), list):
        clean["mapping"] = sorted(clean["mapping"])
    return json.dumps(clean, sort_keys=True)


# ---------------------------------------------------------------------------------------
# writers, one per kind; each runs inside the ingest's transaction
# ---------------------------------------------------------------------------------------



# ---------------------------------------------------------------------------------------
# the ingest
# ---------------------------------------------------------------------------------------
def record_refusal(store: Store, path: str | Path, refusal: FileRefused, sha: str | None = None,
                   **options: Any) -> IngestResult:
    """Record a file refused before it could be read (a link, a pipe, too large...) as any refusal is recorded.

    In the audit tables, with the event, and nothing in the data tables.
    """
    return _refuse(store, str(path), sha, None, _options_key(options), refusal.reason_code,
                   refusal.message, _now())


_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def effective_of(path: str | Path) -> str | None:
    """Return the date a file takes effect when a folder above it is named for one.

    Return the date a file takes effect when a folder above it is named for one
    (``assets/history/2024-03-31/esol_providers.csv``): a source's older files, kept by date, load as the
    history they are (``--effective`` given by hand wins).
    """
    for part in reversed(Path(path).parent.parts):
        if _DATED.match(part):
            try:
                return _dt.date.fromisoformat(part).isoformat()
            except ValueError:
                return None
    return None


def load_order(rank: int, path: str | Path) -> tuple[int, str, str]:
    """Where a file of dependency ``rank`` goes among others.

    By kind, then within a kind a source's dated older files first, oldest first, then the undated (today's),
    then by path.
    """
    return rank, effective_of(path) or "9999-12-31", str(path)


def dependency_rank(path: str | Path, data: bytes, options: dict[str, Any] | None = None) -> int:
    """Where a file goes in a folder's order (see :func:`expand_paths`).

    Boundaries 0 ... assets 4; 9 for a file that will be refused.
    """
    try:
        return sources.DEPENDENCY_ORDER[sources.sniff(Path(path), data, options or {})]
    except FileRefused:
        return 9


def _refuse(store: Store, path: str, sha: str | None, kind: str | None, options_key: str,
            reason_code: str, message: str, started: _dt.datetime) -> IngestResult:
    """Record a refusal in the audit tables (not the data tables) and say why."""
    with store.transaction() as con:
        ingest_id = store.next_ingest_id()
        audit.record_refusal(con, {"ingest_id": ingest_id, "path": path, "sha256": sha or "", "kind": kind,
                                   "options": options_key, "started_at": started, "finished_at": _now(),
                                   "message": f"{reason_code}: {message}"})
        events.announce(store, events.IngestFailed(ingest_id, path, sha, reason_code, message))
    log.warning("refused %s: %s", path, message)
    return IngestResult(path=path, status="refused", ingest_id=ingest_id, kind=kind, sha256=sha,
                        message=message, reason_code=reason_code)


def _refuse_too_large(path: Path, data: bytes, kind: str) -> None:
    """Refuse a file larger than its kind may be (``settings.max_bytes``)."""
    if len(data) > settings.max_bytes(kind):
        raise FileRefused("too_large", f"{path.name}: {len(data):,} bytes, more than the "
                                       f"{settings.max_bytes(kind):,} a {kind} file may have (see settings)")


def _check_conserved(read: int, accepted: int, quarantined: int) -> None:
    """Every row read is stored or quarantined: otherwise the ingest is rolled back."""
    if accepted + quarantined != read:
        msg = f"row conservation broken: read {read}, accepted {accepted}, quarantined {quarantined}"
        raise RuntimeError(msg)


def ingest_file(store: Store, path: str | Path, progress: Progress | None = None,
                data: bytes | None = None, label: str | None = None, **options: Any) -> IngestResult:
    """Ingest one file into ``store`` in one transaction.

    Parameters
    ----------
    store
        The open store (writable).
    path
        The file.
    progress
        Called with a short description of each stage.
    data
        The file's bytes when the caller has read them already (the inbox reads each file once,
        through its trust boundary); otherwise the file is read here.
    label
        The path to record and report (the inbox's name for a file it moved to a working
        folder); default ``path``.
    **options
        ``kind`` (skip sniffing), ``mapping`` (list of ``target=source`` for a foreign schema),
        ``category`` (default category), ``source`` (label; default: the file's stem),
        ``vintage``, ``licence``, ``level``, ``code_field``, ``name_field``, ``variable``.

    Returns
    -------
    IngestResult
        ``status`` is ``completed``, ``unchanged`` (the same bytes and options were taken
        before; nothing was written) or ``refused`` (nothing stored but the audit record).
    """
    say = progress or (lambda _msg: None)
    path = Path(path)
    if options.get("effective") in (None, "") and (dated := effective_of(label or path)):
        options = {**options, "effective": dated}  # history/2024-03-31/providers.csv: as at that date
    spath = label or str(path)
    started = _now()
    okey = _options_key(options)
    sha: str | None = None
    kind: str | None = None
    try:
        say(f"reading {path.name}")
        if data is None:
            data = read_bytes(path, max_bytes=settings.max_bytes("any"))
        sha = sha256_bytes(data)
        prev = audit.previous_ingest(store.con, sha, okey)
        if prev is not None:
            msg = f"already ingested as #{prev}; nothing changed"
            log.info("%s: %s", spath, msg)
            return IngestResult(path=spath, status="unchanged", ingest_id=prev, sha256=sha, message=msg)
        # messages name the file as the user knows it; only a bare Shapefile is opened again
        # by its path (GDAL finds its sidecar files beside it)
        named = Path(label) if label and path.suffix.lower() != ".shp" else path
        kind = sources.sniff(named, data, options)
        _refuse_too_large(path, data, kind)
        result = sources.read(kind, named, data, options)
    except FileRefused as exc:
        return _refuse(store, spath, sha, kind, okey, exc.reason_code, exc.message, started)
    except MemoryError:
        raise
    except Exception as exc:  # a reader crashed on input it did not expect: refuse, keep the data
        # the detail goes to the log at DEBUG: an exception's text may quote the file's content
        log.debug("reader failed on %s", spath, exc_info=True)
        return _refuse(store, spath, sha, kind, okey, "unreadable",
                       f"{path.name}: cannot be read{f' as {kind}' if kind else ''} "
                       f"({type(exc).__name__}); run with -vv for the detail", started)

    source = options.get("source") or path.stem.split(".")[0]
    say(f"validating and storing {result.rows_read} rows as {kind}")
    return store_rows(store, result, Origin(spath, sha, kind, source), options, started=started, options_key=okey)


class Declined(Exception):
    """Raised by a :func:`store_rows` hook to roll the whole ingest back; re-raised to the caller."""


Hook = Callable[[duckdb.DuckDBPyConnection, int, Written], None]


class Origin(NamedTuple):
    """Where rows came from.

    The file (or submission) as the user knows it, its checksum, its kind and the source label its
    assets are stored under.
    """

    label: str
    sha256: str
    kind: str
    source: str


def store_rows(store: Store, result: ReadResult, origin: Origin, options: dict[str, Any], *,
               started: _dt.datetime | None = None, options_key: str | None = None,
               also: Hook | None = None) -> IngestResult:
    """Validate and store rows already read as one ingest, in one transaction.

    Validate and store rows already read (a file's, or a submission's held in memory) as one ingest, in one
    transaction: the audit record, the rows through the kind's writer, the quarantine, the events; then
    ``also(con, ingest_id, written)`` inside the same transaction.

    A failure rolls everything back and is recorded as a refusal (``store_failed``); a hook that
    raises :class:`Declined` rolls back and the exception goes to the caller, nothing recorded.
    """
    label, sha, kind, source = origin
    started = started or _now()
    okey = options_key if options_key is not None else _options_key(options)
    try:
        with store.transaction() as con:
            ingest_id = store.next_ingest_id()
            audit.begin_ingest(con, ingest_id, label, sha, kind, okey, started)
            written = sources.READERS[kind].write(con, result, ingest_id, source, options)
            accepted, quarantine, wards, changed = written.accepted, written.quarantine, written.wards, written.changed
            quarantined = len(quarantine)
            _check_conserved(result.rows_read, accepted, quarantined)
            if quarantine:
                audit.quarantine(con, ingest_id, pd.DataFrame(quarantine))
            message = written.note + (f"; {quarantined} quarantined" if quarantined else "")
            audit.finish_ingest(con, ingest_id, result.rows_read, accepted, quarantined, _now(), message)
            events.announce(store, events.IngestCompleted(ingest_id, label, kind, result.rows_read, accepted,
                                                          quarantined, list(wards)))
            if changed:  # assets added, altered or moved to another ward
                events.announce(store, events.AssetsChanged(ingest_id, list(wards)))
            if also is not None:
                also(con, ingest_id, written)
    except Declined:
        raise
    except FileRefused as exc:  # the writer found the whole file cannot be taken
        log.warning("ingest of %s refused; rolled back: %s", label, exc.message)
        return _refuse(store, label, sha, kind, okey, exc.reason_code, exc.message, started)
    except Exception as exc:
        log.exception("ingest of %s failed; rolled back", label)
        return _refuse(store, label, sha, kind, okey, "store_failed",
                       f"{label}: could not be stored, nothing was changed ({exc})", started)
    log.info("ingested %s as #%d: %s", label, ingest_id, message)
    return IngestResult(path=label, status="completed", ingest_id=ingest_id, kind=kind, sha256=sha,
                        rows_read=result.rows_read, rows_accepted=accepted,
                        rows_quarantined=quarantined, message=message, affected_wards=list(wards),
                        assets_changed=changed)


_NOT_DATA = {".md", ".txt", ".html", ".pdf"}
_NOT_DATA_NAMES = {"MANIFEST.json", "SOURCES.json"}


def expand_paths(paths: Iterable[str | Path], options: dict[str, Any] | None = None) -> list[Path]:
    """Files to ingest, folders expanded and taken in dependency order.

    Boundaries come first, then lookups, postcodes, census, and assets last, so that each file
    finds what it depends on; within a kind, files in folders named for a date (a source's
    history) come first, oldest first, each taking effect on its date. Hidden files and
    documentation are skipped.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not any(
                part.startswith(".") for part in f.relative_to(p).parts)
                and f.suffix.lower() not in _NOT_DATA and f.name not in _NOT_DATA_NAMES)
        else:
            files.append(p)
    if len(files) <= 1:
        return files

    def rank(f: Path) -> tuple[int, str, str]:
        try:
            return load_order(dependency_rank(f, read_bytes(f, max_bytes=settings.max_bytes("any")), options), f)
        except FileRefused:
            return load_order(9, f)

    return sorted(files, key=rank)


def ingest_paths(store: Store, paths: Iterable[str | Path], progress: Progress | None = None,
                 **options: Any) -> list[IngestResult]:
    """Ingest files and folders (see :func:`expand_paths`); one transaction per file."""
    return [ingest_file(store, f, progress=progress, **options) for f in expand_paths(paths, options)]
