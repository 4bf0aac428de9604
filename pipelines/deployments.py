"""The pipeline worker: served deployments with event triggers, and the inbox watcher.

Run by ``assetmap up`` as ``python -m pipelines.deployments`` with ``PREFECT_API_URL`` set:

- deployment ``ingest_file/inbox``, triggered by ``assetmap.file.received``, with the
  event's ``path`` as its parameter;
- deployment ``recompute/assets-changed``, triggered by ``assetmap.assets.changed``, with the
  event's ``ward_codes``;
- deployment ``refresh_all/manual`` (no trigger), to recompute everything from the UI or API.

At most two runs at a time (``limit=2``): while one holds the working store, the next one's
process starts; writers take turns on the store's lock. The watcher emits
``assetmap.file.received`` to the server for every complete file in the inbox.
"""

from __future__ import annotations

import logging
import os
import sys

from prefect import serve
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from assetmap import events
from assetmap.settings import settings
from pipelines.flows import ingest_file, recompute, refresh_all
from pipelines.inbox import InboxWatcher

log = logging.getLogger("pipelines.deployments")


def deployments() -> list:
    return [
        ingest_file.to_deployment(
            name="inbox",
            triggers=[DeploymentEventTrigger(
                name="file received", expect={events.FILE_RECEIVED},
                match={"prefect.resource.id": "assetmap.inbox"},
                parameters={"path": "{{ event.payload.path }}"})],
            description="Ingest a file that arrived in the inbox"),
        recompute.to_deployment(
            name="assets-changed",
            triggers=[DeploymentEventTrigger(
                name="assets changed", expect={events.ASSETS_CHANGED},
                parameters={"wards": "{{ event.payload.ward_codes | tojson }}",
                            "after_ingest": "{{ event.payload.ingest_id }}"})],
            description="Recompute the wards whose assets changed"),
        refresh_all.to_deployment(name="manual", description="Recompute everything"),
    ]


def emit_file_received(event: events.FileReceived) -> None:
    from prefect.events import emit_event

    emit_event(event=event.name, resource={"prefect.resource.id": "assetmap.inbox"}, payload=event.payload())


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not os.environ.get("PREFECT_API_URL"):
        log.error("PREFECT_API_URL is not set: the worker needs a Prefect server (run `assetmap up`)")
        return 2
    deps = deployments()
    # register the deployments and their triggers before the watcher emits anything, so that no
    # file.received event arrives before the automation that listens for it
    for d in deps:
        d.apply()
    watcher = InboxWatcher(settings.inbox_dir, emit_file_received)
    watcher.start()
    ready = os.environ.get("ASSETMAP_WORKER_READY")
    if ready:
        with open(ready, "w", encoding="utf-8") as fh:
            fh.write(str(os.getpid()))
    log.info("worker ready: %d deployments, watching %s", len(deps), settings.inbox_dir)
    try:
        serve(*deps, limit=2, print_starting_message=False)
    finally:
        watcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
