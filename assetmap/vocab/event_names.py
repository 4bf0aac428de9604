"""Event names: the contract between the library and the pipelines (payloads in :mod:`assetmap.events`)."""

from __future__ import annotations

FILE_RECEIVED = "assetmap.file.received"
INGEST_COMPLETED = "assetmap.ingest.completed"
INGEST_FAILED = "assetmap.ingest.failed"
ASSETS_CHANGED = "assetmap.assets.changed"
SNAPSHOT_PUBLISHED = "assetmap.snapshot.published"

EVENT_NAMES: tuple[str, ...] = (FILE_RECEIVED, INGEST_COMPLETED, INGEST_FAILED, ASSETS_CHANGED, SNAPSHOT_PUBLISHED)
