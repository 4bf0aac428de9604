"""Prefect flows: thin shells over :mod:`assetmap`.

- :func:`ingest_file` takes one file (or a community submission): records
  ``assetmap.file.received``, ingests it (the library records ``ingest.completed`` or
  ``ingest.failed`` and ``assets.changed``), publishes a snapshot, and files the inbox file
  away in ``processed/`` or ``rejected/`` with a report.
- :func:`recompute` recomputes what changed assets reach (or everything) and publishes.
- :func:`refresh_all` ingests a folder in dependency order, recomputes everything, publishes.
- :func:`network_part` answers one local authority's walks; a full recompute of a store spanning
  several authorities hands them to the work pool, so that workers route them side by side.
- :func:`notify` tells subscribers what the latest snapshot means for them
  (:func:`assetmap.alerts.notify`); run after each ``assetmap.snapshot.published``, and again
  when a message waits to be retried or a digest is due.

A repeated file does nothing: the store keys every ingest by the file's SHA-256 and options,
so the second run of the same bytes is ``unchanged`` (and publishes nothing). Only opening the
store is retried: another process holding its write lock is the one transient failure here.

Without a Prefect server (``PREFECT_API_URL`` unset) call the functions' ``.fn`` to run them
as plain Python; with one, each call is a flow run the server records.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import importlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prefect import flow, get_run_logger, task
from prefect.exceptions import MissingContextError

from assetmap import alerts, events, queries
from assetmap.db.store import Store, StoreBusy
from assetmap.errors import FileRefused
from assetmap.settings import holder_variable, settings
from assetmap.snapshots import Snapshot, publish, upload_snapshot
from pipelines import inbox as inbox_mod

if TYPE_CHECKING:
    from assetmap.analysis import RecomputeResult

# Each flow run is a new process that imports this module: what only some flows need (the readers
# with geopandas, the analysis with pandas and SciPy: about a second of CPU) is imported in them, so
# a run of notify, or a recompute that finds its ingest analysed already, does without.

_EMITTER_ON = False
log = logging.getLogger("pipelines.flows")


def _run(task_obj: Any, *args: Any) -> Any:
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

    emit_event(event=name, resource={"prefect.resource.id": "assetmap.db.store",
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


_LIMITS_MADE: set[str] = set()


def ensure_writer_limit(name: str | None = None) -> str:
    """Make the store's writer limit (a Prefect global concurrency limit of 1) if the server has
    none of that name yet; return its name. Two processes making it at once is harmless."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name = name or settings.writer_limit()
    if name in _LIMITS_MADE:
        return name
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
            if limit.limit != 1 or not limit.active:
                log.warning("the writer limit %s allows %d at once%s: set it to 1 (`prefect gcl update %s "
                            "--limit 1`)", name, limit.limit, "" if limit.active else " and is inactive", name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    _LIMITS_MADE.add(name)
    return name


def _worker_name() -> str:
    return os.environ.get("ASSETMAP_WORKER_NAME") or f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def _writing() -> Iterator[Store]:
    """The working store, opened for writing. In a run against a Prefect server the run first
    takes the store's writer limit (:func:`ensure_writer_limit`), so runs on any worker, on any
    machine, write it one at a time; the log says which worker held it, and when. Snapshots
    published inside are uploaded to the bucket after the limit is released."""
    pending: list[Snapshot] = []
    token = _UPLOADS.set(pending)
    try:
        with _writer_section() as store:
            yield store
    finally:
        _UPLOADS.reset(token)
    # the store is let go of: now the bucket, however slow, holds up no one
    for snap in pending:
        upload_snapshot(snap)


#: the snapshots published in the current writer section, uploaded once it is over
_UPLOADS: contextvars.ContextVar[list[Snapshot] | None] = contextvars.ContextVar("assetmap_uploads", default=None)


def _publish(store: Store, reason: str) -> Snapshot:
    """Publish; inside :func:`_writing`, the upload waits until the store is let go of."""
    pending = _UPLOADS.get()
    snap = publish(store, reason=reason, upload=pending is None)
    if pending is not None and settings.snapshot_url:
        pending.append(snap)
    return snap


@contextlib.contextmanager
def _writer_section() -> Iterator[Store]:
    """The store opened for writing, under the writer limit where a Prefect server runs the flow.

    The limit is taken with a lease the holder renews while it writes (Prefect's own), and the
    holder names itself in a Prefect variable (:func:`assetmap.settings.holder_variable`): a run waiting for the
    store frees the lease of a holder whose run is no longer running (its process was lost, and
    the server has said so) or is this very run's lost first attempt, instead of waiting for the
    lease to run out. A lease is only ever freed by its id, so no live holder loses it."""
    from prefect.context import FlowRunContext, TaskRunContext

    if not os.environ.get("PREFECT_API_URL") or (FlowRunContext.get() is None and TaskRunContext.get() is None):
        with _open_store() as store:
            yield store
        return
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.concurrency._leases import maintain_concurrency_lease
    from prefect.concurrency._sync import release_concurrency_slots_with_lease

    name = ensure_writer_limit()
    logger, worker = _logger(), _worker_name()
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else None
    holder = ConcurrencyLeaseHolder(type="flow_run", id=ctx.flow_run.id) if ctx and ctx.flow_run else None
    t0 = time.time()
    lease = _take_writer(name, holder, run_id, t0)
    waited = time.time() - t0
    _set_holder(name, {"lease_id": str(lease), "flow_run_id": run_id, "worker": worker, "since": time.time()})
    logger.info("writer %s took %s at %.3f after %.1f s", worker, name, time.time(), waited)
    try:
        with maintain_concurrency_lease(lease, settings.writer_lease_s, raise_on_lease_renewal_failure=True), \
                _open_store() as store:
            yield store
    finally:
        release_concurrency_slots_with_lease(lease)
        _clear_holder(name, str(lease))
        logger.info("writer %s released %s at %.3f", worker, name, time.time())


def _take_writer(name: str, holder: Any, run_id: str | None, t0: float) -> Any:
    """Wait for the writer limit ``name``; its lease id. While waiting, look every few seconds
    whether the holder was lost (:func:`_free_lost_holder`). Raises :class:`StoreBusy` after
    ``settings.writer_wait_s``, naming who held it."""
    import threading

    from prefect.concurrency._asyncio import AcquireConcurrencySlotTimeoutError
    from prefect.concurrency._sync import acquire_concurrency_slots_with_lease

    _free_lost_holder(name, run_id)  # at once: this run's own earlier attempt, say
    done = threading.Event()

    def look() -> None:
        while not done.wait(_LOOK_AGAIN_S):
            _free_lost_holder(name, run_id)

    looker = threading.Thread(target=contextvars.copy_context().run, args=(look,), daemon=True,
                              name="assetmap-writer-holder")
    looker.start()
    try:
        return acquire_concurrency_slots_with_lease(
            [name], 1, timeout_seconds=settings.writer_wait_s, strict=True,
            lease_duration=settings.writer_lease_s, holder=holder).lease_id
    except AcquireConcurrencySlotTimeoutError as exc:
        msg = (f"waited {time.time() - t0:.0f} s for the store's writer limit {name}, held by "
               f"{_writers_running() or 'no run still running (a killed one: its lease runs out)'}")
        raise StoreBusy(msg) from exc
    finally:
        done.set()


#: how often a run waiting for the store looks whether its holder was lost
_LOOK_AGAIN_S = 1.0


def _set_holder(name: str, holder: dict[str, Any]) -> None:
    from prefect.variables import Variable

    try:
        Variable.set(holder_variable(name), holder, overwrite=True)
    except Exception:  # naming the holder helps waiters; its lease still runs out without it
        _logger().warning("could not record the writer's holder", exc_info=True)


def _clear_holder(name: str, lease: str) -> None:
    from prefect.variables import Variable

    with contextlib.suppress(Exception):
        now = Variable.get(holder_variable(name))
        if isinstance(now, dict) and now.get("lease_id") == lease:
            Variable.unset(holder_variable(name))


def _free_lost_holder(name: str, run_id: str | None) -> str | None:
    """Free the writer lease of a holder that cannot be writing: its flow run is no longer
    RUNNING (the server marked it Crashed, Failed or AwaitingRetry after its process was lost),
    or it is this run's own earlier attempt. Return what was freed, or None."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency._sync import release_concurrency_slots_with_lease
    from prefect.exceptions import ObjectNotFound
    from prefect.variables import Variable

    try:
        held = Variable.get(holder_variable(name))
        if not isinstance(held, dict) or not held.get("lease_id"):
            return None
        other = held.get("flow_run_id")
        if other and other == run_id:
            why = "this run's own attempt whose process was lost"
        elif other:
            with get_client(sync_client=True) as client:
                try:
                    state = client.read_flow_run(uuid.UUID(other)).state
                except ObjectNotFound:
                    state = None
            if state is not None and state.type.value in ("RUNNING", "CANCELLING"):
                return None
            why = f"run {other} is {state.name if state else 'gone'}"
        else:
            return None
        release_concurrency_slots_with_lease(held["lease_id"])
        _clear_holder(name, held["lease_id"])
    except Exception:  # the lease still runs out on its own
        _logger().debug("could not look at the writer's holder", exc_info=True)
        return None
    said = f"freed the store's writer limit from {held.get('worker')}: {why}"
    _logger().warning(said)
    return said


def _writers_running() -> str:
    """The other flow runs RUNNING now (one of them may hold the writer limit)."""
    from prefect import runtime
    from prefect.client.orchestration import get_client

    from pipelines.recovery import flow_runs_in

    try:
        with get_client(sync_client=True) as client:
            runs = flow_runs_in(client, ["RUNNING"], limit=20)
    except Exception:  # naming them is a courtesy; the error is raised either way
        return ""
    me = runtime.flow_run.id
    return ", ".join(f"flow run {r.name} ({r.id}, running since {r.start_time})"
                     for r in runs if str(r.id) != str(me))


def _retry_if_busy(task_obj: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except StoreBusy:
        return True
    except Exception:
        return False
    return False


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
        (path.parent.resolve() / path.name).relative_to(inbox)
    except ValueError:
        return None
    return inbox


def _ready_in(folder: Path, inbox: Path, settle_s: float = 1.0) -> list[Path]:
    """Entries of an inbox folder that look completely written (``lstat``: links, pipes and
    folders too, so that they are filed away; nothing is followed)."""
    now = time.time()
    out = []
    for entry in os.scandir(folder):
        p = folder / entry.name
        try:
            settled = now - entry.stat(follow_symlinks=False).st_mtime >= settle_s
        except FileNotFoundError:
            continue
        if settled and inbox_mod.is_candidate(p, inbox):
            out.append(p)
    return out


def _read(path: Path, kind: str, claimed: bool = True) -> bytes | FileRefused:
    """A file's bytes, read once (a claimed inbox file through the trust boundary: no link
    followed); or why it is refused."""
    from assetmap.sources._io import read_bytes

    try:
        return read_bytes(path, no_follow=claimed, max_bytes=settings.max_bytes(kind))
    except FileRefused as exc:
        return exc


def _record_received(store: Store, path: str, data: bytes | FileRefused) -> None:
    from assetmap.sources._io import sha256_bytes

    event = events.FileReceived(path, sha256_bytes(data) if isinstance(data, bytes) else None,
                                len(data) if isinstance(data, bytes) else 0)
    # recorded, not emitted: the watcher already told the server, and re-emitting would trigger
    # this flow again
    events.announce(store, event, emit=False)


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def ingest_batch_task(items: list[list[str]], options: dict[str, Any], inbox: str | None,
                      analyse: bool = True) -> list[dict[str, Any]]:
    """Ingest several files in one turn of the store's lock, in dependency order, filing each
    away (inbox files) while the lock is held; then (``analyse``) recompute what they changed
    and publish once, so no snapshot shows new data beside stale gaps.

    ``items`` holds ``[name, path]`` pairs: the path the file came in as, and where it is now
    (an inbox file has been claimed into this run's working folder). An inbox file is read once,
    without following links; what cannot be read (a link, a pipe, a folder, too large) is
    refused and filed away like any refused file.
    """
    _warmed()
    from assetmap.ingest import dependency_rank, load_order, record_refusal
    from assetmap.ingest import ingest_file as _ingest

    outs: list[dict[str, Any]] = []
    took: dict[str, float] = {}
    with _writing() as store:
        t = time.perf_counter()
        loaded = []
        for name, path in items:
            p = Path(path)
            if not os.path.lexists(p):  # another run took it meanwhile
                continue
            data = _read(p, "any", claimed=inbox is not None)
            rank = dependency_rank(p, data, options) if isinstance(data, bytes) else -1
            loaded.append((rank, name, p, data))
        for _, name, p, data in sorted(loaded, key=lambda t: load_order(t[0], t[1])):
            _record_received(store, name, data)
            if isinstance(data, FileRefused):
                result = record_refusal(store, name, data, **options)
            else:
                result = _ingest(store, p, data=data, label=name, **options)
            out = result.as_dict()
            if inbox is not None:
                ok = out["status"] in ("completed", "unchanged")
                out["moved_to"] = str(inbox_mod.file_away(p, Path(inbox), ok, out))
            outs.append(out)
        took["ingest"] = time.perf_counter() - t
        done = [o for o in outs if o["status"] == "completed"]
        if done and analyse:
            t = time.perf_counter()
            res = _recompute_after(store, done)
            took["recompute"] = time.perf_counter() - t
            ids = ", #".join(str(o["ingest_id"]) for o in done)
            t = time.perf_counter()
            snap = _publish(store, reason=f"ingest #{ids}, {res.mode} recompute").snapshot_id
            took["publish"] = time.perf_counter() - t
            for o in done:
                o["snapshot"] = snap
                o["recompute"] = res.mode
    _logger().info("%d file(s): %s", len(outs), ", ".join(f"{k} {v:.2f} s" for k, v in took.items()))
    return outs


def _recompute_after(store: Store, done: list[dict[str, Any]]) -> RecomputeResult:
    """What a batch's ingests call for: the units their assets reach when only assets changed;
    everything when boundaries, lookups, census counts or the walking network did (they move every unit)."""
    from assetmap.analysis import recompute as _recompute
    from assetmap.analysis import recompute_affected
    from assetmap.sources import ASSETS_ONLY_KINDS

    if all(o["kind"] in ASSETS_ONLY_KINDS for o in done):
        wards = sorted({w for o in done for w in o["affected_wards"]})
        return recompute_affected(store, wards)
    return _recompute(store, n_boot=_bootstrap_reps(store))


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def submission_batch_task(items: list[list[str]], inbox: str) -> list[dict[str, Any]]:
    """Take claimed submission files in one turn of the store's lock: each becomes a pending
    submission or is refused (any error at all while reading it: too large, too deep, not JSON,
    a field twice, wrong types, unknown fields, a link...), and is filed away with a report."""
    _warmed()
    from assetmap.submissions import SubmissionError, submit_bytes
    from assetmap.submissions import load as load_submission

    outs: list[dict[str, Any]] = []
    with _writing() as store:
        for name, path in items:
            p = Path(path)
            if not os.path.lexists(p):
                continue
            data = _read(p, "submission")
            _record_received(store, name, data)
            out: dict[str, Any] = {"path": name}
            try:
                raw = _submitted(data)
                payload = load_submission(raw, name)
                if alerts.is_request(payload):  # a subscription, its confirmation or its end, from the dashboard
                    done = alerts.take_request(store, payload)
                    out.update(status="completed", alert=done["action"], subscription_id=done["subscription_id"],
                               message=f"alert {done['action']}: {done['status']}")
                else:
                    sid = submit_bytes(store, raw, name)
                    out.update(status="completed", submission_id=sid, message="pending moderation")
            except alerts.AlertError as exc:
                out.update(status="refused", reason_code="invalid_alert_request", message=str(exc))
            except SubmissionError as exc:
                out.update(status="refused", reason_code="invalid_submission", message=str(exc))
            except Exception as exc:  # whatever a hostile file does, it is filed away
                log.debug("submission %s could not be read", name, exc_info=True)
                out.update(status="refused", reason_code="invalid_submission",
                           message=f"{Path(name).name}: cannot be read ({type(exc).__name__})")
            out["moved_to"] = str(inbox_mod.file_away(p, Path(inbox), out["status"] == "completed", out))
            outs.append(out)
    return outs


def _submitted(data: bytes | FileRefused) -> bytes:
    """A submission's bytes, or :class:`SubmissionError` saying why the file could not be read."""
    from assetmap.submissions import SubmissionError

    if isinstance(data, FileRefused):
        raise SubmissionError(data.message)
    return data


def _warm(*modules: str) -> None:
    """Import what the run will need in the background, in order, while it talks to the server.

    The readers, the analysis and the routing engine (pandana, and scikit-learn under it) are about two
    seconds of imports, made while the run claims its files instead of inside the store's writer section;
    the import lock makes the run wait for a module still being imported, never import it twice.
    """
    def _imports() -> None:
        for name in modules:
            importlib.import_module(name)

    thread = threading.Thread(target=_imports, name="warm-imports", daemon=True)
    thread.start()
    _WARMING.append(thread)


#: What an ingest run imports in the background (the readers, the analysis, the routing engine).
_INGESTING = ("assetmap.ingest", "assetmap.analysis", "pandana")
#: The background imports started by :func:`_warm`.
_WARMING: list[threading.Thread] = []


def _warmed() -> None:
    """Wait for the background imports before importing beside them.

    Two threads importing a package and its module in opposite orders can deadlock on the import locks.
    """
    while _WARMING:
        _WARMING.pop().join()


def _run_key() -> str:
    from prefect import runtime

    return str(runtime.flow_run.id or uuid.uuid4())


@flow(name="ingest_file")
def ingest_file(path: str, kind: str | None = None) -> dict[str, Any]:
    """Ingest one file; when it came through the inbox, file it away with a report.

    A file in the inbox is taken together with every other complete file waiting there (in
    dependency order: boundaries, lookups, census, then assets), in one turn of the store's
    lock and one snapshot; a submission together with every other waiting submission. Each is
    first claimed (renamed into this run's working folder), so exactly one run owns it; the runs
    the other files' events triggered, and runs for files already taken, are taken over.
    """
    use_prefect_events()
    logger = _logger()
    p = Path(path)
    options = {"kind": kind} if kind else {}
    inbox = _inbox_of(p)
    if inbox is None:  # a file named directly, not dropped into the inbox
        if not p.exists():
            return {"status": "already_taken", "path": str(p)}
        _warm(*_INGESTING)
        out = _run(ingest_batch_task, [[str(p), str(p)]], options, None)[0]
        return {**out, "batch": 1}
    p = inbox / (p.parent.resolve() / p.name).relative_to(inbox)
    folder = p.parent
    submissions = folder == inbox / inbox_mod.SUBMISSIONS
    gone = not os.path.lexists(p)
    batch = [] if gone else sorted(set(_ready_in(folder, inbox)) | {p})
    if batch:  # (most runs of a burst find their file taken, and import nothing more)
        _warm(*(("assetmap.submissions",) if submissions else _INGESTING))
    run = _run_key()
    # a retry of a run whose process was lost: what that process claimed is this run's still
    kept = [[str(f), str(c)] for f, c in inbox_mod.claimed_by(inbox, run) if f.parent == folder]
    if kept:
        logger.info("took back %d file(s) this run had claimed before its process was lost", len(kept))
    claimed = kept + [[str(f), str(c)] for f in batch if (c := inbox_mod.claim(f, inbox, run)) is not None]
    names = {name for name, _ in claimed}
    n = len(_absorb_scheduled(lambda params: params.get("path") in names
                              or not os.path.lexists(str(params.get("path") or ""))))
    if n:
        logger.info("took over %d waiting runs for files in this batch or already taken", n)
    if not claimed:
        logger.info("%s was already taken by another run", p.name)
        return {"status": "already_taken", "path": str(p), "batch": 0}
    try:
        if submissions:
            outs = _run(submission_batch_task, claimed, str(inbox))
        else:
            outs = _run(ingest_batch_task, claimed, options, str(inbox))
    finally:
        inbox_mod.release(inbox, run)  # what was claimed but not filed away goes back
    if any(out.get("alert") for out in outs):  # a confirmation email to send, at once
        _notify(logger)
    mine: dict[str, Any] = {"status": "already_taken", "path": str(p)}
    for out in outs:
        logger.info("%s: %s", Path(out["path"]).name, out.get("message") or out.get("status"))
        if out["path"] == str(p):
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
    n = queries.ward_count(store.con)
    return settings.bootstrap_reps if n <= settings.bootstrap_max_units else 0


def _analysed_since(store: Store, ingest_id: int) -> bool:
    """Whether the analysis was computed after ingest ``ingest_id`` finished (its batch did it)."""
    return queries.analysed_since(store.con, ingest_id)


#: The deployment that answers authorities' walks (served with the others, or in the pool).
PARTS_DEPLOYMENT = "network_part/parts"
PARTS_TAG = "assetmap-network-part"
_PART_STATES_DONE = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _pool_runner() -> Callable[[list[Any]], None] | None:
    """Inside a deployment's run: a runner that hands the authorities' walks to the work pool as
    runs of ``network_part`` and waits for them. None outside one (tests, ``.fn``, the CLI):
    the recompute then routes every part itself."""
    from prefect import runtime

    if not runtime.deployment.id or not os.environ.get("PREFECT_API_URL"):
        return None
    return _run_parts


def _live_slots(client: Any) -> int:
    """How many runs the parts' deployment can have at once: its pool's online workers, two
    each (``assetmap worker --limit``'s default); 2 where the deployment is served, not pooled."""
    try:
        pool = client.read_deployment_by_name(PARTS_DEPLOYMENT).work_pool_name
        if not pool:
            return 2
        workers = client.read_workers_for_work_pool(pool)
        return max(2, 2 * sum(1 for w in workers if str(getattr(w.status, "value", w.status)) == "ONLINE"))
    except Exception:
        return 2


def _run_parts(jobs: list[Any]) -> None:
    """Start ``network_part`` runs (two per online worker of the pool), each given every job:
    they share the parts, each taking the next one not yet taken, so a run's process start is
    paid once per worker slot, not once per authority. Wait until every part is answered or every
    run has ended; runs not yet started then are deleted. A part whose run failed, or none that
    a worker starts within ``settings.network_part_start_s`` (every slot busy: a pool of one
    worker with one slot, which this run holds), is left unanswered, and the recompute routes
    it itself, so nothing waits for good."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import run_deployment

    if not jobs:
        return
    t0 = time.monotonic()
    logger = _logger()
    todo = [j.as_dict() for j in jobs]
    with get_client(sync_client=True) as client:
        n = max(1, min(len(jobs), settings.network_part_runs or _live_slots(client)))
        # each run starts at its own place in the list, so that runs starting together take different parts
        turns = [todo[k * len(todo) // n:] + todo[:k * len(todo) // n] for k in range(n)]
        runs = [run_deployment(PARTS_DEPLOYMENT, parameters={"jobs": t}, timeout=0, tags=[PARTS_TAG]) for t in turns]
        ids = [cast(Any, r).id for r in runs]  # (the synchronous call returns the run itself)
        logger.info("walks of %d authorities handed to the work pool, shared by %d runs", len(jobs), len(ids))
        states: dict[Any, str] = {}
        while True:
            states = {r.id: (r.state.type.value if r.state else "PENDING")
                      for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
                                                     limit=len(ids))}
            waiting = [i for i in ids if states.get(i) not in _PART_STATES_DONE]
            answered = all(Path(j.answers).exists() for j in jobs)
            age = time.monotonic() - t0
            started = [i for i in waiting if states.get(i) not in ("SCHEDULED", "PENDING")]
            if answered or not waiting or (not started and age > settings.network_part_start_s) \
                    or age > settings.network_part_timeout_s:
                for i in waiting:
                    if i not in started or not answered:  # (a run at work on an answered list ends by itself)
                        with contextlib.suppress(Exception):
                            client.delete_flow_run(i)
                break
            time.sleep(0.5)
    left = sum(1 for j in jobs if not Path(j.answers).exists())
    if left:
        logger.warning("%d of %d authorities' walks not answered by the pool in %.0f s: routed here", left,
                       len(jobs), time.monotonic() - t0)
    logger.info("walks of %d authorities answered by the pool in %.1f s", len(jobs) - left, time.monotonic() - t0)


@flow(name="network_part")
def network_part(jobs: list[dict[str, str]]) -> list[str]:
    """Answer authorities' walking questions (:mod:`assetmap.network.parts`), taking each part
    not yet answered or taken by another run of the same recompute: build its engine and write
    its walks beside the store. One thread each (a worker runs several at once, one per core)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from prefect import runtime

    from assetmap.network import parts

    done = parts.answer_all([parts.job_from(j) for j in jobs], owner=str(runtime.flow_run.id or _worker_name()))
    _logger().info("walks of %d authorities answered here: %s", len(done), ", ".join(done) or "none left")
    return done


@task(retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_retry_if_busy)
def recompute_task(wards: list[str] | None, after_ingest: int | None = None) -> dict[str, Any]:
    _warmed()
    with _writing() as store:
        if after_ingest is not None and _analysed_since(store, after_ingest):
            return {"mode": "skipped", "units": 0, "oas": 0, "seconds": 0.0, "changed_units": [],
                    "notes": [f"ingest #{after_ingest} was analysed and published by its own batch"]}
        from assetmap.analysis import recompute as _recompute
        from assetmap.analysis import recompute_affected

        res = recompute_affected(store, wards) if wards else \
            _recompute(store, n_boot=_bootstrap_reps(store), runner=_pool_runner())
        out = res.as_dict()
        out["snapshot"] = _publish(store, reason=f"{res.mode} recompute").snapshot_id
    return out


@flow(name="recompute")
def recompute(wards: list[str] | str | None = None, after_ingest: int | str | None = None) -> dict[str, Any]:
    """Recompute what assets changed in ``wards`` reach (all wards when none given); publish.

    ``after_ingest`` (the event's ingest): nothing to do when that ingest's batch has analysed
    and published it already, as inbox batches do; the trigger still serves changes made
    elsewhere (an approval with ``--no-publish``, a CLI ingest beside a running server).
    """
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
    after = int(after_ingest) if after_ingest not in (None, "", "None") else None
    if after is None or wards is None:  # (after an ingest, its own batch has mostly done the work)
        _warm("assetmap.analysis", "pandana")
    out = _run(recompute_task, wards, after if wards is not None else None)
    _logger().info("%s recompute: %d units, %d OAs in %.2f s", out["mode"], out["units"], out["oas"],
                          out["seconds"])
    return out


@flow(name="refresh_all")
def refresh_all(folder: str | None = None) -> dict[str, Any]:
    """Ingest a folder (default: none) in dependency order, recompute everything, publish."""
    use_prefect_events()
    logger = _logger()
    results: list[dict[str, Any]] = []
    if folder:  # one batch, one turn of the lock; the one publish comes after the recompute
        from assetmap.ingest import expand_paths

        files = [str(f) for f in expand_paths([folder])]
        results = _run(ingest_batch_task, [[f, f] for f in files], {}, None, False)
        for r in results:
            logger.info("%s: %s", Path(r["path"]).name, r.get("status"))
    out = _run(recompute_task, None)
    return {"ingests": results, "recompute": out}


def _notify(logger: logging.Logger | logging.LoggerAdapter) -> alerts.NotifyReport:
    """Plan, send and record alerts, holding the store only to plan and to record."""
    report = alerts.notify(_writing, who=_worker_name())
    logger.info("alerts: %s", report.as_dict())
    return report


@flow(name="notify")
def notify() -> dict[str, Any]:
    """Tell each subscriber what the latest snapshot means for them (:func:`assetmap.alerts.notify`).

    Run after every publish (the ``assetmap.snapshot.published`` trigger). A store no one ever
    subscribed to (no alerts key beside it) is not even opened. When something is due later (a
    message to try again after a mail server failed, a digest), the run asks the server for one
    more run of this deployment at that moment (one per 10 s, however many ask): Prefect keeps
    it, across restarts, and a worker runs it."""
    if not alerts.key_path(settings.db_path).exists():
        return alerts.NotifyReport().as_dict()
    report = _notify(_logger())
    if report.next_due is not None:
        _notify_at(report.next_due)
    return report.as_dict()


#: The deployment a notify run asks to run again (see :mod:`pipelines.deployments`).
NOTIFY_DEPLOYMENT = "notify/snapshot-published"


def _notify_at(when: Any) -> None:
    """One scheduled run of the notify deployment at ``when`` (naive UTC), rounded up to 10 s;
    asked twice for the same moment, the server makes it once (its idempotency key)."""
    import datetime as _dt

    from prefect.context import FlowRunContext
    from prefect.deployments import run_deployment

    if not os.environ.get("PREFECT_API_URL") or FlowRunContext.get() is None:
        return  # run as plain Python: the caller (a cron job, the tests) comes back itself
    due = when.replace(tzinfo=_dt.UTC)
    due = max(due, _dt.datetime.now(_dt.UTC))
    due = due.replace(second=due.second // 10 * 10, microsecond=0) + _dt.timedelta(seconds=10)
    run = run_deployment(NOTIFY_DEPLOYMENT, scheduled_time=due, timeout=0, as_subflow=False,
                         idempotency_key=f"assetmap-notify-{due:%Y%m%dT%H%M%S}")
    _logger().info("alerts: next run %s at %s", getattr(run, "id", run), due.isoformat())
