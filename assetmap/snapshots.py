"""Published, read-only snapshots of the store: what the dashboard and other readers open.

The pipeline writes the working store; readers never open it. After each ingest or recompute
the pipeline calls :func:`publish`: the store is checkpointed (so the file on disk holds every
committed transaction and nothing else), copied to ``snapshots/.<id>.tmp``, stripped of what
must never be published (pending submissions), and renamed to ``snapshots/<id>.duckdb``; then
the pointer file ``LATEST`` is replaced atomically (write a temporary file, ``os.replace``). A
reader resolves ``LATEST`` and opens that file read-only, so it sees one whole committed state,
never a half-written one, and never waits for a writer. The newest ``settings.keep_snapshots``
are kept, so "now" can be compared with "before".
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from assetmap import display, events
from assetmap.settings import settings
from assetmap.store import Store, StoreError, connect

log = logging.getLogger(__name__)

LATEST = "LATEST"


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    path: str
    published_at: str
    last_ingest_id: int | None
    size_bytes: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_dir(db_path: str | os.PathLike[str]) -> Path:
    """Where the snapshots of the store at ``db_path`` live."""
    return Path(settings.snapshot_dir) if settings.snapshot_dir else Path(db_path).parent / "snapshots"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def publish(store: Store, reason: str = "") -> Snapshot:
    """Publish the store's current committed state as a new read-only snapshot.

    Records ``assetmap.snapshot.published`` in the working store (after the copy, so the
    snapshot does not claim its own publication) and emits it.
    """
    if store.read_only:
        raise StoreError("publish needs the working store, opened for writing")
    folder = snapshot_dir(store.path)
    folder.mkdir(parents=True, exist_ok=True)
    display.refresh(store)  # the maps' simplified boundaries, remade only when boundaries changed
    store.con.execute("CHECKPOINT")
    last = store.scalar("SELECT max(ingest_id) FROM ingests")
    now = _dt.datetime.now(_dt.UTC)
    sid = now.strftime("%Y%m%dT%H%M%S%fZ")
    tmp = folder / f".{sid}.tmp"
    final = folder / f"{sid}.duckdb"
    shutil.copyfile(store.path, tmp)
    con = connect(tmp)
    try:
        # the pending (and the moderators' notes on rejected) submissions stay in the working store
        con.execute("DELETE FROM submissions WHERE status <> 'approved'")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, final)
    snap = Snapshot(sid, str(final), now.isoformat(), last, final.stat().st_size, reason)
    _write_atomic(_meta_path(final), json.dumps(snap.as_dict(), indent=2))
    _write_atomic(folder / LATEST, final.name)
    events.announce(store, events.SnapshotPublished(sid, reason, last))
    _prune(folder)
    log.info("published snapshot %s (%s)", sid, reason or "no reason given")
    return snap


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _prune(folder: Path) -> None:
    snaps = sorted(folder.glob("*.duckdb"))
    latest = (folder / LATEST).read_text().strip() if (folder / LATEST).exists() else None
    for old in snaps[: max(0, len(snaps) - settings.keep_snapshots)]:
        if old.name == latest:
            continue
        # a reader that has it open keeps reading it: unlinking does not pull the file away
        old.unlink(missing_ok=True)
        _meta_path(old).unlink(missing_ok=True)


def list_snapshots(db_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The snapshots kept, newest first, each with ``latest`` true for the published one."""
    folder = snapshot_dir(db_path)
    if not folder.exists():
        return []
    latest = (folder / LATEST).read_text().strip() if (folder / LATEST).exists() else None
    out = []
    for path in sorted(folder.glob("*.duckdb"), reverse=True):
        meta = _meta_path(path)
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            info = {"snapshot_id": path.stem, "path": str(path)}
        info["latest"] = path.name == latest
        out.append(info)
    return out


def latest_path(db_path: str | os.PathLike[str]) -> Path | None:
    folder = snapshot_dir(db_path)
    pointer = folder / LATEST
    if not pointer.exists():
        return None
    return folder / pointer.read_text().strip()


def open_snapshot(db_path: str | os.PathLike[str], snapshot_id: str | None = None,
                  attempts: int = 5) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the latest snapshot (or the one named).

    The pointer is resolved again if the file it named was pruned in between.
    """
    for _ in range(attempts):
        path = (snapshot_dir(db_path) / f"{snapshot_id}.duckdb") if snapshot_id else latest_path(db_path)
        if path is None:
            raise StoreError(f"no snapshot published yet beside {db_path}")
        try:
            return connect(path, read_only=True)
        except duckdb.IOException:
            if snapshot_id or path.exists():
                raise
    raise StoreError(f"the latest snapshot beside {db_path} kept disappearing")
