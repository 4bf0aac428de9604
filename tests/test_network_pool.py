"""A full recompute of a store spanning two authorities, run by the pipeline: each authority's
walks go to the work pool as a run of their own (two `assetmap worker` processes, a real Prefect
server started by `assetmap up`), and the result equals a recompute routed in one process."""

from __future__ import annotations

import os
import shutil

import pytest

from assetmap.analysis import recompute
from assetmap.db.store import Store
from pipelines.flows import PARTS_TAG
from tests.conftest import get_json, post_json, running_up
from tests.servers import assetmap_workers, wait_until
from tests.test_gaps import assert_same_results
from tests.test_network_split import EAST, cut_in_two

pytestmark = [pytest.mark.slow, pytest.mark.concurrent, pytest.mark.xdist_group("network_pool")]
POOL = "assetmap-network"


def _get(url: str) -> dict:
    return get_json(url)


def test_a_full_recompute_hands_each_authoritys_walks_to_the_pool_and_equals_one_process(tmp_path, _full_db):
    template = tmp_path / "split.duckdb"
    shutil.copy(_full_db, template)
    with Store(template) as s:
        west = cut_in_two(s)
        s.con.execute("CHECKPOINT")
    reference = tmp_path / "reference.duckdb"
    shutil.copy(template, reference)

    env = {"ASSETMAP_BOOTSTRAP": "0"}
    with running_up(tmp_path, template, "--pool", POOL, "--workers", "0", "--no-dashboard", env_extra=env) as info:
        api, db = info["api"], info["db"]
        worker_env = {**os.environ, **env, "ASSETMAP_DB": str(db), "ASSETMAP_INBOX": str(info["inbox"])}
        with assetmap_workers(tmp_path, api, worker_env, ["w1", "w2"], POOL):
            dep = _get(f"{api}/deployments/name/refresh_all/manual")
            run = post_json(f"{api}/deployments/{dep['id']}/create_flow_run", {})
            run_id = run["id"]  # type: ignore[call-overload]

            def done() -> bool:
                state = _get(f"{api}/flow_runs/{run_id}")["state"]["type"]
                if state in ("FAILED", "CRASHED", "CANCELLED"):
                    pytest.fail(f"the recompute ended {state}")
                return state == "COMPLETED"

            wait_until(done, 240, what="the full recompute")
            parts = post_json(f"{api}/flow_runs/filter", {"flow_runs": {"tags": {"all_": [PARTS_TAG]}}})
            # the runs share the authorities (each is handed all of them and takes the next one free)
            assert 1 <= len(parts) <= 4
            assert all(sorted(j["code"] for j in r["parameters"]["jobs"]) == sorted([west, EAST]) for r in parts)
            assert {r["state"]["type"] for r in parts} == {"COMPLETED"}
            assert {r["work_pool_name"] for r in parts} == {POOL}
            assert all(r["parent_task_run_id"] for r in parts)  # shown under the recompute that asked
    # the parts' networks are kept beside the store for the next run
    assert len(list((db.parent / "network-parts").glob("*/network.npz"))) == 2
    with Store(reference) as ref, Store(db, read_only=True) as got:
        recompute(ref)
        assert_same_results(ref, got)
