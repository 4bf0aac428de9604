"""Prefect flows: thin shells over :mod:`assetmap`.

- :func:`ingest_file` takes one file (or a community submission): records
  ``assetmap.file.received``, ingests it (the library records ``ingest.completed`` or
  ``ingest.failed`` and ``assets.changed``), publishes a snapshot, and files the inbox file
  away in ``processed/`` or ``rejected/`` with a report.
- :func:`recompute` recomputes what changed assets reach (or everything) and publishes.
- :func:`refresh_all` ingests a folder in dependency order, recomputes everything, publishes.

A repeated file does nothing: the store keys every ingest by the file's SHA-256 and options,
so the second run of the same bytes is ``unchanged`` (and publishes nothing). Only opening the
store is retried: another process holding its write lock is the one transient failure here.

Without a Prefect server (``PREFECT_API_URL`` unset) call the functions' ``.fn`` to run them
as plain Python; with one, each call is a flow run the server records.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.exceptions import MissingContextError

from assetmap import events
from assetmap.ingest import expand_paths
from assetmap.ingest import ingest_file as _ingest
from assetmap.recompute import recompute as _recompute
from assetmap.recompute import recompute_wards
from assetmap.settings import settings
from assetmap.snapshots import publish
from assetmap.store import Store, StoreBusy
from assetmap.submissions import SubmissionError, submit_file
from pipelines import inbox as inbox_mod

_EMITTER_ON = False
log = logging.getLogger("pipelines.flows")


def _run(task_obj, *args: Any) -> Any:  # noqa: ANN001 (a Prefect task)
    """Call a task: as a task run inside a flow run, as plain Python outside one (a flow called
    through ``.fn`` with no server, as the tests and scripts do)."""
    from prefect.context import FlowRunContext

    return task_obj(*args) if FlowRunContext.get() is not None else task_obj.fn(*args)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a run; a plain logger when the flow runs as plain Python."""
    try:
        return get_run_logger()
    except MissingContextError:
        return log


def prefect_emitter(name: str, payload: dict[str, Any]) -> None:
    """Forward an assetmap event to the Prefect server's event stream."""
    from prefect.events import emit_event

    emit_event(event=name, resource={"prefect.resource.id": "assetmap.store",
                                     "prefect.resource.name": str(settings.db_path)},
               payload=payload)


def use_prefect_events() -> None:
    """Forward the library's committed events to Prefect (once per process, when a server is set)."""
    global _EMITTER_ON
    if not _EMITTER_ON and os.environ.get("PREFECT_API_URL"):
        events.register_emitter(prefect_emitter)
        _EMITTER_ON = True


def _open_store() -> Store:
    return Store(settings.db_path)


def _retry_if_busy(task_obj, task_run, state) -> bool:  # noqa: ANN001 (Prefect's callback types)
    try:
        state.result()
    except StoreBusy:
        return True
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def ingest_task(path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Ingest one file into the working store; publish a snapshot if anything changed."""
    p = Path(path)
    with _open_store() as store:
        payload = {"path": str(p), "sha256": inbox_mod.sha256_file(p), "size": p.stat().st_size}
        with store.transaction() as con:
            # recorded, not emitted: the watcher already told the server, and re-emitting
            # would trigger this flow again
            events.record(con, events.FILE_RECEIVED, payload)
        result = _ingest(store, p, **options)
        out = result.as_dict()
        if result.status == "completed":
            out["snapshot"] = publish(store, reason=f"ingest #{result.ingest_id}").snapshot_id
    return out


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def submission_task(path: str) -> dict[str, Any]:
    p = Path(path)
    with _open_store() as store:
        payload = {"path": str(p), "sha256": inbox_mod.sha256_file(p), "size": p.stat().st_size}
        with store.transaction() as con:
            events.record(con, events.FILE_RECEIVED, payload)
        try:
            sid = submit_file(store, p)
        except SubmissionError as exc:
            return {"status": "refused", "reason_code": "invalid_submission", "message": str(exc)}
    return {"status": "completed", "submission_id": sid, "message": "pending moderation"}


def _absorb_scheduled(keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Delete this deployment's runs still waiting to start whose parameters ``keep`` accepts;
    return their parameters. How one run takes over the work its siblings were triggered for
    (files it ingested already, wards it will recompute anyway), instead of each starting a
    process to find nothing to do. Outside a deployment (tests, ``.fn``) nothing happens."""
    from prefect import runtime
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    dep = runtime.deployment.id
    me = runtime.flow_run.id
    if not dep or not os.environ.get("PREFECT_API_URL"):
        return []
    taken = []
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[dep]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))), limit=200)
            for run in runs:
                if str(run.id) != str(me) and keep(run.parameters or {}):
                    try:
                        client.delete_flow_run(run.id)
                    except ObjectNotFound:  # another run took it over first
                        continue
                    taken.append(run.parameters or {})
    except Exception:  # housekeeping only: the sibling runs would just find nothing to do
        _logger().warning("could not look at waiting runs", exc_info=True)
    return taken


def _inbox_of(path: Path) -> Path | None:
    inbox = Path(settings.inbox_dir).resolve()
    try:
        path.resolve().relative_to(inbox)
    except ValueError:
        return None
    return inbox


def _ready_in_inbox(inbox: Path, settle_s: float = 1.0) -> list[Path]:
    """Files in the inbox (not submissions) that look completely written."""
    now = time.time()
    return [p for p in inbox.iterdir()
            if p.is_file() and inbox_mod.is_candidate(p, inbox) and now - p.stat().st_mtime >= settle_s]


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def ingest_batch_task(paths: list[str], options: dict[str, Any], inbox: str | None) -> list[dict[str, Any]]:
    """Ingest several files in one turn of the store's lock, filing each away (inbox files)
    while the lock is held, so that a run waiting for it finds them gone; publish once."""
    outs: list[dict[str, Any]] = []
    with _open_store() as store:
        for path in paths:
            p = Path(path)
            if not p.exists():  # another run took it meanwhile
                continue
            payload = {"path": str(p), "sha256": inbox_mod.sha256_file(p), "size": p.stat().st_size}
            with store.transaction() as con:
                # recorded, not emitted: the watcher already told the server, and re-emitting
                # would trigger this flow again
                events.record(con, events.FILE_RECEIVED, payload)
            out = _ingest(store, p, **options).as_dict()
            if inbox is not None:
                ok = out["status"] in ("completed", "unchanged")
                out["moved_to"] = str(inbox_mod.file_away(p, Path(inbox), ok, out))
            outs.append(out)
        if any(o["status"] == "completed" for o in outs):
            done = [o["ingest_id"] for o in outs if o["status"] == "completed"]
            snap = publish(store, reason=f"ingest #{', #'.join(map(str, done))}").snapshot_id
            for o in outs:
                if o["status"] == "completed":
                    o["snapshot"] = snap
    return outs


@flow(name="ingest_file")
def ingest_file(path: str, kind: str | None = None) -> dict[str, Any]:
    """Ingest one file; when it came through the inbox, file it away with a report.

    A file in the inbox is taken together with every other complete file waiting there (in
    dependency order: boundaries, lookups, census, then assets), in one turn of the store's
    lock and one snapshot; the runs those files' own events trigger then find nothing to do.
    """
    use_prefect_events()
    logger = _logger()
    p = Path(path)
    if not p.exists():
        logger.info("%s was already taken by an earlier run", p.name)
        return {"status": "already_taken", "path": str(p)}
    inbox = _inbox_of(p)
    if inbox is not None and p.parent.name == inbox_mod.SUBMISSIONS:
        out = _run(submission_task, str(p))
        out["moved_to"] = str(inbox_mod.file_away(p, inbox, out["status"] == "completed", out))
        return out
    batch = [p] if inbox is None or p.parent != inbox else expand_paths(set(_ready_in_inbox(inbox)) | {p})
    names = {str(f) for f in batch}
    if len(batch) > 1:
        n = len(_absorb_scheduled(lambda params: params.get("path") in names))
        if n:
            logger.info("took over %d waiting runs for files in this batch", n)
    outs = _run(ingest_batch_task, [str(f) for f in batch], {"kind": kind} if kind else {},
                str(inbox) if inbox is not None else None)
    mine: dict[str, Any] = {"status": "already_taken", "path": str(p)}
    for out in outs:
        f = Path(out["path"])
        logger.info("%s: %s", f.name, out.get("message") or out.get("status"))
        if f == p:
            mine = out
    mine["batch"] = len(outs)
    return mine


def _parse_wards(wards: list[str] | str | None) -> list[str] | None:
    if wards is None or isinstance(wards, list):
        return wards
    text = wards.strip()
    if not text or text.lower() == "none":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = ast.literal_eval(text)
    return [str(w) for w in value]


def _bootstrap_reps(store: Store) -> int:
    """Confidence intervals for a city's indices; a national run goes without (see settings)."""
    n = store.scalar("SELECT count(*) FROM areas WHERE level = 'ward'") or 0
    return settings.bootstrap_reps if n <= settings.bootstrap_max_units else 0


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def recompute_task(wards: list[str] | None) -> dict[str, Any]:
    with _open_store() as store:
        res = recompute_wards(store, wards) if wards else _recompute(store, n_boot=_bootstrap_reps(store))
        out = res.as_dict()
        out["snapshot"] = publish(store, reason=f"{res.mode} recompute").snapshot_id
    return out


@flow(name="recompute")
def recompute(wards: list[str] | str | None = None) -> dict[str, Any]:
    """Recompute what assets changed in ``wards`` reach (all wards when none given); publish."""
    use_prefect_events()
    wards = _parse_wards(wards)
    if wards is not None:  # one recompute for the wards of every recompute still waiting
        waiting = _absorb_scheduled(lambda params: True)
        for params in waiting:
            more = _parse_wards(params.get("wards"))
            if more is None:
                wards = None
                break
            wards = sorted(set(wards) | set(more))
        if waiting:
            _logger().info("took over %d waiting recompute runs", len(waiting))
    out = _run(recompute_task, wards)
    _logger().info("%s recompute: %d units, %d OAs in %.2f s", out["mode"], out["units"], out["oas"],
                          out["seconds"])
    return out


@flow(name="refresh_all")
def refresh_all(folder: str | None = None) -> dict[str, Any]:
    """Ingest a folder (default: none) in dependency order, recompute everything, publish."""
    use_prefect_events()
    logger = _logger()
    results = []
    if folder:
        for f in expand_paths([folder]):
            results.append(_run(ingest_task, str(f), {}))
            logger.info("%s: %s", f.name, results[-1].get("status"))
    out = _run(recompute_task, None)
    return {"ingests": results, "recompute": out}
