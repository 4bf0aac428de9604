"""The pipeline worker: served deployments with event triggers, and the inbox watcher.

Run by ``assetmap up`` as ``python -m pipelines.deployments`` with ``PREFECT_API_URL`` set
(with ``--pool NAME``, by ``assetmap up --pool NAME``: the deployments are registered with that
process work pool, for ``assetmap worker --pool NAME`` on any machine to run, and only the
watcher runs here):

- deployment ``ingest_file/inbox``, triggered by ``assetmap.file.received``, with the
  event's ``path`` as its parameter;
- deployment ``recompute/assets-changed``, triggered by ``assetmap.assets.changed``, with the
  event's ``ward_codes``;
- deployment ``refresh_all/manual`` (no trigger), to recompute everything from the UI or API;
- deployment ``network_part/parts`` (no trigger): a full recompute of a store spanning several
  local authorities runs one per authority, so that the pool's workers route them side by side;
- deployment ``notify/snapshot-published``, triggered by ``assetmap.snapshot.published``: alerts
  for what the new snapshot means to each subscriber; a run that leaves something due later (a
  message to retry, a digest) schedules one more run of it then (not a cron schedule: the
  server's scheduler service fails to insert scheduled runs with the pinned SQLAlchemy 2.1).

At most two runs at a time (``limit=2``): while one holds the working store, the next one's
process starts; writers take turns on the store's lock. The watcher emits
``assetmap.file.received`` to the server for every complete file in the inbox.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading

from prefect import serve
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from assetmap import events
from assetmap.settings import settings
from pipelines.flows import ensure_writer_limit, ingest_file, network_part, notify, recompute, refresh_all
from pipelines.inbox import InboxWatcher, event_id
from pipelines.recovery import ensure_recovery_automations

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
        network_part.to_deployment(name="parts", description="One local authority's walks, for a full recompute"),
        notify.to_deployment(
            name="snapshot-published",
            triggers=[DeploymentEventTrigger(name="snapshot published", expect={events.SNAPSHOT_PUBLISHED})],
            description="Tell subscribers what the new snapshot means for them"),
    ]


def to_pool(pool: str) -> list:
    """Register the deployments with work pool ``pool`` (made, of type ``process``, if missing),
    their entry points as module paths (``pipelines.flows:ingest_file``), so a worker on any
    machine with assetmap installed runs them from its own folder."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    deps = deployments()
    for d in deps:
        d.entrypoint = f"pipelines.flows:{d.entrypoint.rsplit(':', 1)[1]}"
        d._path = None  # no folder to change into: the module is installed
        # the engine started straight away: without a command, Prefect's process worker first starts
        # a workspace supervisor process to resolve a project folder that an installed package lacks
        # (about a second of every run); `assetmap worker` puts its own interpreter first on PATH
        d.job_variables = {**(d.job_variables or {}), "command": "python -m prefect.engine"}
        d.apply(work_pool_name=pool)
    ensure_writer_limit()
    ensure_recovery_automations(lost_machines=True)
    return deps


def emit_file_received(event: events.FileReceived) -> None:
    """Tell the server a file arrived, under an id that names the file (:func:`pipelines.inbox.event_id`):
    two watchers on one shared inbox send the same event, and the server acts on it once."""
    from prefect.events import emit_event

    emit_event(event=event.name, resource={"prefect.resource.id": "assetmap.inbox"}, payload=event.payload(),
               id=event_id(event, settings.inbox_dir))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.deployments")
    ap.add_argument("--pool", default=None,
                    help="register the deployments with this work pool (run by `assetmap worker --pool`) "
                         "instead of serving them here; the inbox watcher still runs here")
    ap.add_argument("--no-watch", action="store_true",
                    help="with --pool: watch no inbox here (the store machines' workers watch theirs)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not os.environ.get("PREFECT_API_URL"):
        log.error("PREFECT_API_URL is not set: the worker needs a Prefect server (run `assetmap up`)")
        return 2
    if args.pool:
        return _watch_for_pool(args.pool, watch=not args.no_watch)
    deps = deployments()
    # register the deployments and their triggers before the watcher emits anything, so that no
    # file.received event arrives before the automation that listens for it
    for d in deps:
        d.apply()
    ensure_recovery_automations(lost_machines=False)
    watcher = _watch_and_say_ready()
    log.info("worker ready: %d deployments, watching %s", len(deps), settings.inbox_dir)
    try:
        serve(*deps, limit=2, print_starting_message=False)
    finally:
        if watcher is not None:
            watcher.stop()
    return 0


def run_at_work(run_id: str) -> bool:
    """Whether flow run ``run_id`` is still at work or due to run again (so the files it claimed
    stay claimed: another watcher's run, on a shared inbox, or one to be retried). When the
    server cannot say, yes: a claim is never taken from a run that may hold it."""
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        run = uuid.UUID(run_id)
    except ValueError:
        return False  # not a flow run's claim (a run as plain Python)
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run).state
    except ObjectNotFound:
        return False
    except Exception:
        log.warning("cannot ask the Prefect server about run %s: its claimed files stay for now", run_id)
        return True
    return state is not None and state.type.value in ("SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "PAUSED")


def _watch_and_say_ready(watch: bool = True) -> InboxWatcher | None:
    """Start the inbox watcher (``watch``), then write the file ``assetmap up`` waits for
    (``ASSETMAP_WORKER_READY``)."""
    watcher = None
    if watch:
        watcher = InboxWatcher(settings.inbox_dir, emit_file_received, keep_claims=run_at_work)
        watcher.start()
    ready = os.environ.get("ASSETMAP_WORKER_READY")
    if ready:
        with open(ready, "w", encoding="utf-8") as fh:
            fh.write(str(os.getpid()))
    return watcher


def _watch_for_pool(pool: str, watch: bool = True) -> int:
    """Deployments in ``pool`` (run by workers wherever they are), and (``watch``) this machine's
    inbox watched."""
    deps = to_pool(pool)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watcher = _watch_and_say_ready(watch)
    log.info("%d deployments in work pool %s; %s", len(deps), pool,
             f"watching {settings.inbox_dir}" if watcher else "no inbox watched here")
    try:
        stop.wait()
    finally:
        if watcher is not None:
            watcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
