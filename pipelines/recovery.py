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
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from assetmap.snapshots import VARIANTS, snapshot_dir
from assetmap.store import StoreBusy, connect

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
