"""Published, read-only snapshots of the store: what the dashboard and other readers open.

The pipeline writes the working store; readers never open it. After each ingest or recompute
the pipeline calls :func:`publish`, which writes two variants of the store's committed state:

- ``partner``: the whole store (less pending submissions), with exact locations of sensitive
  sites, for signed-in partners and the store's owner;
- ``public``: a new file holding no row of a sensitive site (not its location, address,
  contact), only their counts per ward, and no figure from which one could be found: per output
  area every figure is computed as if the sensitive sites did not exist, per ward the figures
  that count them are rounded (:mod:`assetmap.disclosure`, the rule in one place), so a public
  replica cannot leak what it does not hold.

Each goes to ``snapshots/<variant>/<id>.duckdb`` under a temporary name first; then the pointer
file ``snapshots/<variant>/LATEST`` is replaced atomically. A reader resolves ``LATEST`` and
opens that file read-only, so it sees one whole committed state, never a half-written one, and
never waits for a writer. The newest ``settings.keep_snapshots`` are kept, so "now" can be
compared with "before". With ``ASSETMAP_SNAPSHOT_URL`` set, both are also uploaded to object
storage (:mod:`assetmap.objectstore`), where machines without the store follow them.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from assetmap import events
from assetmap.db import snapshot as snapshot_sql
from assetmap.db.snapshot import PUBLIC_TABLES
from assetmap.db.store import Store, StoreError, connect
from assetmap.settings import settings

log = logging.getLogger(__name__)

LATEST = "LATEST"
PARTNER, PUBLIC = "partner", "public"
VARIANTS = (PARTNER, PUBLIC)

@dataclass(frozen=True)
class Snapshot:
    """One published snapshot: its id, file, when, up to which ingest, its size, why and its variant."""

    snapshot_id: str
    path: str
    published_at: str
    last_ingest_id: int | None
    size_bytes: int
    reason: str
    variant: str = PARTNER
    url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as plain values."""
        return asdict(self)


def snapshot_dir(db_path: str | os.PathLike[str], variant: str | None = None) -> Path:
    """Where the snapshots of the store at ``db_path`` live (one folder per variant)."""
    base = Path(settings.snapshot_dir) if settings.snapshot_dir else Path(db_path).parent / "snapshots"
    return base / variant if variant else base


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def publish(store: Store, reason: str = "", upload: bool = True) -> Snapshot:
    """Publish the store's current committed state as a new pair of read-only snapshots.

    Returns the partner variant (the public one is beside it, with the same id). Records
    ``assetmap.snapshot.published`` in the working store (after the copy, so the snapshot does
    not claim its own publication) and emits it. With ``settings.snapshot_url`` set and
    ``upload``, both are uploaded (:func:`upload_snapshot`); an upload that fails raises
    :class:`~assetmap.objectstore.ObjectStoreError` after the local publication is complete. The
    pipeline passes ``upload=False`` and uploads once it has let go of the store, so a slow or
    hanging bucket never holds up the next write.
    """
    if store.read_only:
        msg = "publish needs the working store, opened for writing"
        raise StoreError(msg)
    base = snapshot_dir(store.path)
    folders = {v: snapshot_dir(store.path, v) for v in VARIANTS}
    _refuse_anothers(folders[PARTNER], store.path)  # (both variants are published together)
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    from assetmap import display  # what publishing needs, not what reading snapshots does

    display.refresh(store)  # the maps' simplified boundaries, remade only when boundaries changed
    snapshot_sql.checkpoint(store.con)
    last = snapshot_sql.last_ingest(store.con)
    now = _dt.datetime.now(_dt.UTC)
    sid = now.strftime("%Y%m%dT%H%M%S%fZ")
    finals = {v: folders[v] / f"{sid}.duckdb" for v in VARIANTS}
    tmp = folders[PARTNER] / f".{sid}.tmp"
    shutil.copyfile(store.path, tmp)
    con = connect(tmp)
    try:
        snapshot_sql.drop_private(con)
        snapshot_sql.count_sensitive(con, settings.profile_reach_m)
        snapshot_sql.describe(con, PARTNER, sid)
        snapshot_sql.checkpoint(con)
    finally:
        con.close()
    os.replace(tmp, finals[PARTNER])
    _write_public(finals[PARTNER], finals[PUBLIC], sid)
    snaps = {v: Snapshot(sid, str(finals[v]), now.isoformat(), last, finals[v].stat().st_size, reason, v)
             for v in VARIANTS}
    for v in VARIANTS:
        _write_atomic(_meta_path(finals[v]), json.dumps({**snaps[v].as_dict(), "store": store.path.name}, indent=2))
        _write_atomic(folders[v] / LATEST, finals[v].name)
    events.announce(store, events.SnapshotPublished(sid, reason, last))
    for v in VARIANTS:
        _prune(folders[v])
    _drop_old_layout(base)
    log.info("published snapshot %s (%s)", sid, reason or "no reason given")
    if settings.snapshot_url and upload:
        return upload_snapshot(snaps[PARTNER])
    return snaps[PARTNER]


def upload_snapshot(snap: Snapshot) -> Snapshot:
    """Upload a published snapshot's two variants to ``settings.snapshot_url``.

    Upload a published snapshot's two variants to ``settings.snapshot_url`` (each file, then its pointer:
    ``LATEST`` moves only once the file is whole in the bucket); return the partner variant with its URL. Raises
    :class:`~assetmap.objectstore.ObjectStoreError`, naming the endpoint, when the bucket cannot take them
    (after the client's timeouts and retries).
    """
    from assetmap import objectstore

    t0 = time.perf_counter()
    partner = Path(snap.path)
    out = snap
    for v in (PUBLIC, PARTNER):  # the public one first: a partner never sees newer than the public
        path = partner.parent.parent / v / partner.name
        meta = json.loads(_meta_path(path).read_text()) if _meta_path(path).exists() else snap.as_dict()
        key = objectstore.upload(v, path, {**meta, "path": None})
        if v == PARTNER:
            out = replace(snap, url=f"s3://{objectstore.location().bucket}/{key}")
    log.info("uploaded snapshot %s to %s in %.2f s", snap.snapshot_id, settings.snapshot_url,
             time.perf_counter() - t0)
    return out


def _write_public(partner: Path, final: Path, sid: str) -> None:
    """Write the public variant as a new file, table by table from the partner one.

    Write the public variant as a new file, table by table from the partner one, keeping out what
    :data:`PUBLIC_TABLES` says (rows deleted from a copy could linger in its free blocks).

    The new file gets the schema's views, macros and migration record as any new store does; its
    tables are then made by ``CREATE TABLE … AS`` (no primary-key indexes: a read-only snapshot
    needs none, and on a national store that is 4 s and 160 MB instead of 18 s and 800 MB).
    ``ingests`` alone is filled in place: the other tables' foreign keys name it.
    """
    tmp = final.with_name(f".{sid}.tmp")
    tmp.unlink(missing_ok=True)
    src = connect(partner, read_only=True)
    try:
        from assetmap import disclosure

        ruled = disclosure.public_frames(src)
    finally:
        src.close()
    with Store(tmp) as pub:
        try:
            snapshot_sql.copy_public(pub.con, partner, PUBLIC_TABLES, ruled, pub.transaction)
        except snapshot_sql.UnknownTable as exc:
            raise StoreError(str(exc)) from None
        snapshot_sql.describe(pub.con, PUBLIC, sid)
        snapshot_sql.checkpoint(pub.con)
    os.replace(tmp, final)


def _refuse_anothers(folder: Path, store_path: Path) -> None:
    """Refuse to publish into a folder that holds another store's snapshots.

    Two stores side by side share ``snapshots/``: each would move the other's ``LATEST`` (a dashboard
    showing the wrong place) and prune its snapshots. The snapshots say which store they are of (by file
    name; those of an older assetmap do not, and are taken as this store's).
    """
    for meta in folder.glob("*.json"):
        try:
            owner = json.loads(meta.read_text()).get("store")
        except (OSError, ValueError, AttributeError):
            continue
        if owner and owner != store_path.name:
            msg = (f"{folder} holds the snapshots of another store, {owner}, beside {store_path.name}: give each store "
                   "a folder of its own (or each its own ASSETMAP_SNAPSHOT_DIR)")
            raise StoreError(msg)


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


def _drop_old_layout(base: Path) -> None:
    """Snapshots an older assetmap wrote straight into ``snapshots/`` (one variant, with sensitive sites).

    Superseded by the pair just published.
    """
    for old in [*base.glob("*.duckdb"), *base.glob("*.json"), base / LATEST]:
        old.unlink(missing_ok=True)


def _follows_bucket(db_path: str | os.PathLike[str]) -> bool:
    """Tell whether this machine reads the snapshots from the bucket (a bucket set, no working store)."""
    return bool(settings.snapshot_url) and not Path(db_path).exists()


def list_snapshots(db_path: str | os.PathLike[str], variant: str | None = None) -> list[dict[str, Any]]:
    """Return the snapshots kept (of one ``variant``, or both), newest first.

    Return the snapshots kept (of one ``variant``, or both), newest first, each with its ``variant``, ``path``
    and ``latest`` (true for the one its variant's ``LATEST`` names).
    """
    out = []
    for v in (variant,) if variant else VARIANTS:
        folder = snapshot_dir(db_path, v)
        if _follows_bucket(db_path):
            from assetmap import objectstore

            folder = objectstore.cache_dir(v)
        if not folder.exists():
            continue
        latest = (folder / LATEST).read_text().strip() if (folder / LATEST).exists() else None
        for path in folder.glob("*.duckdb"):
            meta = _meta_path(path)
            try:
                info = json.loads(meta.read_text())
            except (OSError, ValueError):
                info = {"snapshot_id": path.stem}
            info.update(path=str(path), variant=v, latest=path.name == latest)
            out.append(info)
    return sorted(out, key=lambda i: (i["snapshot_id"], i["variant"] == PARTNER), reverse=True)


def latest_path(db_path: str | os.PathLike[str], variant: str = PARTNER) -> Path | None:
    """Return the latest ``variant`` snapshot of the store at ``db_path``.

    The local one, or, on a machine without the store and with ``ASSETMAP_SNAPSHOT_URL`` set, the bucket's
    (downloaded once).
    """
    if variant not in VARIANTS:
        msg = f"variant must be one of {VARIANTS}, not {variant!r}"
        raise ValueError(msg)
    if _follows_bucket(db_path):
        from assetmap import objectstore

        return objectstore.follow(variant)
    folder = snapshot_dir(db_path, variant)
    pointer = folder / LATEST
    if not pointer.exists():
        return None
    return folder / pointer.read_text().strip()


def open_snapshot(db_path: str | os.PathLike[str], snapshot_id: str | None = None,
                  attempts: int = 5, variant: str = PARTNER) -> duckdb.DuckDBPyConnection:
    """Return a read-only connection to the latest ``variant`` snapshot (or the one named).

    The pointer is resolved again if the file it named was pruned in between.
    """
    for _ in range(attempts):
        path = ((snapshot_dir(db_path, variant) / f"{snapshot_id}.duckdb") if snapshot_id
                else latest_path(db_path, variant))
        if path is None:
            msg = f"no snapshot published yet beside {db_path}"
            raise StoreError(msg)
        try:
            return connect(path, read_only=True)
        except duckdb.IOException:
            if snapshot_id or path.exists():
                raise
    msg = f"the latest snapshot beside {db_path} kept disappearing"
    raise StoreError(msg)
