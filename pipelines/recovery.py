"""What a killed process left behind, put right when ``assetmap up`` starts again.

A ``kill -9`` during a run leaves three things that no one else will clear:

- **the store's writer slot.** The Prefect server keeps the slot's lease in memory (its default
  lease storage), so a server that restarts forgets the lease but not the slot it counted: the
  limit says one writer is active, forever, and the next run waits for good. ``up`` with its own
  server (SQLite, on this machine) starts before any worker of its own, so no run can hold the
  slot then: it frees it and says so. With the server on PostgreSQL, workers on other machines may
  hold it; there the server keeps leases on disk (``filesystem`` lease storage) and a dead
  holder's short lease (:data:`assetmap.settings.Settings.writer_lease_s`) runs out instead.
- **the run itself**, RUNNING for good: marked Crashed, with the reason, so the run list and the
  Changes page do not show work in progress that is not happening.
- **half-written snapshot files** (``snapshots/*/.<id>.tmp`` and their ``.wal``): removed, while
  ``up`` holds the working store's write lock (so no publication can be under way).

While everything runs, a run whose process or machine is lost (a worker killed, a machine
switched off) is noticed by the server itself, with two automations
(:func:`ensure_recovery_automations`): flow runs send Prefect's heartbeat event every
:attr:`~assetmap.settings.Settings.heartbeat_s`, and one silent for
:attr:`~assetmap.settings.Settings.unresponsive_after_s` is marked *Crashed* (Prefect's own
recipe for zombie runs); a crashed run of ours (so marked, or by a worker that saw its process
die) is scheduled again (*AwaitingRetry*) for any live worker, up to
:attr:`~assetmap.settings.Settings.run_retries` times. Every flow here is safe to repeat: an
ingest of the same bytes is ``unchanged``, a retried inbox run takes back the files it had
claimed, a recompute and a publish start from the store as committed. A run waiting for the
store frees the writer lease of a holder so marked at once (``pipelines.flows``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from assetmap.db.store import StoreBusy, connect
from assetmap.settings import settings
from assetmap.snapshots import VARIANTS, snapshot_dir

log = logging.getLogger("assetmap.up")


def free_writer_slot(name: str) -> int:
    """Set the writer limit ``name``'s active slots to 0 when any are counted; return how many were.

    Call only where no writer can be running (``up``'s own server, before its worker starts)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return 0
        held = int(limit.active_slots)
        if held:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))
    return held


#: the automations that notice a lost run and retry a crashed one
UNRESPONSIVE_AUTOMATION = "assetmap: a run that stopped heartbeating crashed"
RETRY_AUTOMATION = "assetmap: retry a crashed run"
#: the flows they watch (runs of other flows on a shared server are left alone)
FLOWS = ("ingest_file", "recompute", "refresh_all")
_ENDED = {"prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
          "prefect.flow-run.Crashed"}


def _automations() -> list[Any]:
    """Prefect's recipe for zombie runs (a run silent for ``unresponsive_after_s`` is marked
    Crashed), and a retry of a crashed run of ours while its run count is within
    ``run_retries`` (the state event carries the run count, so the server stops retrying by
    itself)."""
    from datetime import timedelta

    from prefect.automations import AutomationCore
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    after_s = max(float(settings.unresponsive_after_s), settings.heartbeat_s + 5.0)
    ours: dict[str, str | list[str]] = {"prefect.resource.role": "flow", "prefect.resource.name": list(FLOWS)}
    counts = [str(n) for n in range(1, settings.run_retries + 1)]
    return [
        AutomationCore(
            name=UNRESPONSIVE_AUTOMATION,
            description=(f"A run of {', '.join(FLOWS)} that sent no heartbeat for {after_s:.0f} s lost its "
                         "process or machine: mark it Crashed. Made by assetmap (pipelines.recovery)."),
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.heartbeat", *_ENDED},
                match={"prefect.resource.id": "prefect.flow-run.*"}, match_related=ours,
                for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                within=timedelta(seconds=after_s)),
            actions=[ChangeFlowRunState(
                name=None, force=False, state=StateType.CRASHED,
                message=f"no heartbeat for {after_s:.0f} s: its process or machine was lost")]),
        AutomationCore(
            name=RETRY_AUTOMATION,
            description=(f"A run of {', '.join(FLOWS)} that crashed on its attempt "
                         f"{' or '.join(counts) or '(none)'} is scheduled again for any live worker: every "
                         "one of them is safe to repeat. Made by assetmap (pipelines.recovery)."),
            enabled=bool(counts),
            trigger=EventTrigger(
                expect={"prefect.flow-run.Crashed"},
                match={"prefect.resource.id": "prefect.flow-run.*", "prefect.run-count": counts or ["0"]},
                match_related=ours, posture=Posture.Reactive, threshold=1),
            actions=[ChangeFlowRunState(
                name="AwaitingRetry", force=False, state=StateType.SCHEDULED,
                message="crashed (its process or machine was lost): retried by assetmap on a live worker")]),
    ]


def _same(automation: Any) -> str:
    """An automation's trigger, actions and switch as JSON with its sets sorted, to compare two."""
    import json

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if k != "id"}
        if isinstance(value, list):
            return sorted((norm(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return json.dumps(norm({"trigger": automation.trigger.model_dump(mode="json"), "enabled": automation.enabled,
                            "actions": [a.model_dump(mode="json") for a in automation.actions]}), sort_keys=True)


def ensure_recovery_automations(lost_machines: bool = True) -> list[str]:
    """Make (or bring up to date) the server's automations that retry a crashed run and, with
    ``lost_machines`` (workers on a pool, possibly elsewhere), notice a run whose process or
    machine was lost; return their ids. Safe to call from every process that registers the
    deployments.

    ``up`` serving the deployments itself passes ``lost_machines=False``: its runs' processes are
    its own children, watched by its runner, and a run lost with the machine is marked Crashed
    when ``up`` starts again (:func:`recover`). The heartbeat automation keeps a bucket per run,
    written on every state change and heartbeat, which a SQLite server under a flood of runs
    cannot afford ("database is locked", seen with 300 files and submissions at once)."""
    from prefect.client.orchestration import get_client

    ids = []
    with get_client(sync_client=True) as client:
        for wanted in _automations():
            if wanted.name == UNRESPONSIVE_AUTOMATION and not lost_machines:
                for old in client.read_automations_by_name(wanted.name):
                    client.delete_automation(old.id)
                continue
            found = client.read_automations_by_name(wanted.name)
            if not found:
                ids.append(str(client.create_automation(wanted)))
                continue
            if _same(found[0]) != _same(wanted):
                client.update_automation(found[0].id, wanted)
            for extra in found[1:]:  # two processes made it at once
                client.delete_automation(extra.id)
            ids.append(str(found[0].id))
    return ids


def flow_runs_in(client: Any, states: list[str], limit: int = 200) -> list[Any]:
    """The flow runs whose state type is one of ``states`` (``"RUNNING"``, ``"PENDING"``…)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    return client.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType(s) for s in states]))), limit=limit)


def crash_orphaned_runs() -> list[str]:
    """Mark the flow runs still RUNNING or PENDING as Crashed (no worker of ours is running yet, so
    none of them is); return their names."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        runs = flow_runs_in(client, ["RUNNING", "PENDING"])
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message="its process was gone when assetmap up started "
                                                              "again (killed, or the machine stopped)"),
                                      force=True)
    return [run.name for run in runs]


def partial_snapshots(db: Path) -> list[Path]:
    """The half-written snapshot files beside the store at ``db``."""
    out: list[Path] = []
    for variant in VARIANTS:
        folder = snapshot_dir(db, variant)
        if folder.exists():
            out += sorted(p for p in folder.glob(".*.tmp*") if p.is_file())
    return out


def remove_partial_snapshots(db: Path) -> list[Path]:
    """Remove the half-written snapshot files beside ``db`` while holding the store's write lock
    (a publication in progress holds it too); return what was removed. Leaves them when another
    process has the store open."""
    found = partial_snapshots(db)
    if not found or not db.exists():
        return []
    try:
        con = connect(db, wait_s=0.0)  # the writer's lock, taken at once or not at all
    except StoreBusy:
        log.info("the store is in use, so the half-written snapshot files stay for now: %s",
                 ", ".join(p.name for p in found))
        return []
    try:
        removed = []
        for path in partial_snapshots(db):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed
    finally:
        con.close()


def recover(db: Path, writer_limit: str, own_server: bool) -> list[str]:
    """Put right what a killed ``up`` or run left (see the module's text); return one line per
    thing done, for ``up`` to print."""
    said = []
    removed = remove_partial_snapshots(db)
    if removed:
        said.append(f"removed {len(removed)} half-written snapshot file(s) a killed publication left "
                    f"({', '.join(p.name for p in removed[:3])}{' ...' if len(removed) > 3 else ''})")
    if own_server:
        crashed = crash_orphaned_runs()
        if crashed:
            said.append(f"marked {len(crashed)} run(s) left running by a stopped process as Crashed "
                        f"({', '.join(crashed[:3])}{' ...' if len(crashed) > 3 else ''})")
        held = free_writer_slot(writer_limit)
        if held:
            said.append(f"freed the store's writer limit {writer_limit}: it counted {held} writer(s), "
                        "none of them running")
    return said
