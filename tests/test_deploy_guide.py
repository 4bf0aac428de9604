"""The partnership's deployment guide, ``docs/deploy.md``, run as written (issue 25, item 7), then
the deployment it builds put through what a partnership meets.

Every ``sh`` block of the guide is run by bash (``-euo pipefail``), in the guide's order, on this
machine standing in for several: the parts a partnership already has are started here (a
throwaway PostgreSQL cluster with only its superuser, moto as an S3 endpoint with no bucket yet,
``oidc-provider-mock`` as the identity provider), and the guide does the rest: Prefect's role and
database, the bucket, ``assetmap up`` on PostgreSQL, the store's first data, two workers watching
one inbox, a confined public replica and a partner replica with logins behind HAProxy,
``assetmap doctor`` on each machine, a file through it all.

On the deployment it built: a dropped file reaches the bucket and the public front door; under a
burst of runs both workers take some and the store's writer limit lets one write at a time; a
worker lost mid-recompute (its whole process tree killed, as when its machine goes) holds up the
other's ingest for less than a minute, and its run is noticed and redone on the other (item 1);
``assetmap worker`` killed alone takes its Prefect worker with it (item 5). Then the guide's
backup and restore drill, after which the workers take files again.

Slow: run alone with ``pytest -m slow tests/test_deploy_guide.py``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import psutil
import pytest

from assetmap.settings import holder_variable
from pipelines.processes import free_port
from tests.conftest import REPO, get_json, post_json
from tests.servers import BIN, moto_s3, oidc_provider, postgres, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy_guide")]
log = logging.getLogger(__name__)

GUIDE = REPO / "docs" / "deploy.md"
POOL = "assetmap"  # as the guide names it
DRILL = "## Backup and restore"  # the guide's part run after the deployment has been put through its paces
BURST = 3  # two workers share three runs at once (one takes two)
_TOOK = re.compile(r"writer (\S+) took (\S+) at ([\d.]+) after ([\d.]+) s")
_RELEASED = re.compile(r"writer (\S+) released (\S+) at ([\d.]+)")
USERS = [{"sub": "pat", "email": "pat@partner.example.org", "groups": ["partner"]}]


def guide_blocks(text: str) -> list[tuple[str, str]]:
    """The guide's ``sh`` blocks in order, each with the heading it stands under."""
    out: list[tuple[str, str]] = []
    heading, block = "", None
    for line in text.splitlines():
        if block is None and line.startswith("#"):
            heading = line.strip()
        elif block is None and line.strip() == "```sh":
            block = []
        elif block is not None and line.strip() == "```":
            out.append((heading, "\n".join(block)))
            block = None
        elif block is not None:
            block.append(line)
    return out


def _parts() -> tuple[str, str]:
    """The guide as two scripts: up to the drill, and the drill (after the site's values again)."""
    blocks = guide_blocks(GUIDE.read_text(encoding="utf-8"))
    sections = [h for h, _ in blocks]
    assert DRILL in sections, sections
    cut = sections.index(DRILL)
    values = blocks[0][1]
    return ("\n\n".join(code for _, code in blocks[:cut]),
            "\n\n".join([values, *(code for _, code in blocks[cut:])]))


def _run_script(script: str, env: dict[str, str], log_path: Path, site: Path, timeout: float = 900) -> None:
    with open(log_path, "ab") as out:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=site.parent,
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
    if proc.returncode != 0:
        tails = [f"--- {log_path.name}\n{log_path.read_text(errors='replace')[-3000:]}"]
        for f in sorted(site.rglob("*.log")):
            tails.append(f"--- {f.relative_to(site)}\n{f.read_text(errors='replace')[-1500:]}")
        pytest.fail(f"the guide's commands failed (exit {proc.returncode}):\n" + "\n".join(tails))


def _stop_tagged(tag: str) -> None:
    """Stop every process the guide started (each carries the run's tag in its environment)."""
    def tagged() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if p.pid != os.getpid() and p.environ().get("ASSETMAP_GUIDE_RUN") == tag:
                    found.append(p)
        return found

    procs = tagged()
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive + tagged():
        with contextlib.suppress(psutil.Error):
            p.kill()


def _runs(api: str, ids: list[str]) -> list[dict]:
    return post_json(f"{api}/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}, "limit": 200})


def _holder(api: str, name: str) -> dict | None:
    """The store's writer as the runs record it (a Prefect variable), or None."""
    import urllib.error

    try:
        return get_json(f"{api}/variables/name/{name}").get("value")
    except urllib.error.HTTPError:
        return None


def _writer_sections(api: str, ids: list[str]) -> list[tuple[float, float, str, str, float]]:
    """(took, released, worker, limit, seconds waited for it) of every writer section the runs logged."""
    logs = post_json(f"{api}/logs/filter",
                     {"logs": {"flow_run_id": {"any_": ids}}, "limit": 200, "sort": "TIMESTAMP_ASC"})
    took = {}
    out = []
    for rec in logs:
        if m := _TOOK.search(rec["message"]):
            took[rec["flow_run_id"]] = (float(m.group(3)), m.group(1), m.group(2), float(m.group(4)))
        elif (m := _RELEASED.search(rec["message"])) and rec["flow_run_id"] in took:
            start_t, worker, limit, waited = took.pop(rec["flow_run_id"])
            out.append((start_t, float(m.group(3)), worker, limit, waited))
    return sorted(out)


def _drop(inbox: Path, name: str, rows: list[str]) -> float:
    """A provider file written beside the inbox, then renamed in; when it went in."""
    tmp = inbox / f".{name}.part"
    tmp.write_text("id,name,category,lat,lon,capacity\n" + "\n".join(rows) + "\n", encoding="utf-8")
    t = time.monotonic()
    tmp.rename(inbox / name)
    return t


def _services(front: str) -> set[str]:
    """The names the public front door's Open Referral API lists."""
    names: set[str] = set()
    with contextlib.suppress(Exception):
        page = 1
        while True:
            with urllib.request.urlopen(f"{front}/openreferral/v3/services?per_page=500&page={page}",
                                        timeout=10) as r:
                body = json.loads(r.read())
            names |= {s.get("name") for s in body.get("contents", [])}
            if body.get("last_page", True) or page >= body.get("total_pages", 1):
                return names
            page += 1
    return names


def test_the_deployment_guide_as_written_then_a_partnership_day(tmp_path, demo_dir):
    logs = tmp_path / "logs"
    site = tmp_path / "site"
    tag = uuid.uuid4().hex
    ports = {k: str(free_port(0)) for k in ("API_PORT", "PUBLIC_FRONT", "PARTNER_FRONT",
                                            "PUBLIC_REPLICA", "PARTNER_REPLICA")}
    with postgres(logs, database=None) as pg_url, moto_s3(logs, bucket=None) as s3, \
            oidc_provider(logs, USERS) as issuer:
        pg_port = re.search(r":(\d+)/", pg_url).group(1)
        # a clean shell: none of this test process's assetmap or Prefect settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSETMAP_", "PREFECT_", "AWS_"))}
        env.update({"PATH": f"{BIN}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ASSETMAP_GUIDE_RUN": tag,
                    "SITE": str(site), "TENANT": "trial", "BUCKET": "assetmap", "API_HOST": "127.0.0.1",
                    "PGHOST": "127.0.0.1", "PGPORT": pg_port, "OIDC_ISSUER": issuer,
                    "FIRST_DATA": str(demo_dir), **s3, **ports})
        api = f"http://127.0.0.1:{ports['API_PORT']}/api"
        public_front = f"http://127.0.0.1:{ports['PUBLIC_FRONT']}"
        inbox = site / "store" / "inbox"
        first, drill = _parts()
        try:
            t0 = time.monotonic()
            _run_script(first, env, tmp_path / "guide.log", site)
            guide_s = time.monotonic() - t0
            text = (tmp_path / "guide.log").read_text()
            # the guide's checks said so on each machine
            assert text.count("every part checked is fine") == 2, text[-3000:]
            assert f"work pool '{POOL}': 2 live worker(s) (w1, w2)" in text, text[-3000:]
            assert "writable, LATEST" in text and "identity provider" in text
            up_log = (site / "api" / "up.log").read_text()
            assert "state in PostgreSQL" in up_log and "Inbox watcher" not in up_log, up_log
            assert "confined to the public snapshots" in (site / "public" / "dashboard.log").read_text()
            assert list((inbox / "processed").glob("*_trial-welcome-esol.csv"))

            s3c = boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"], aws_access_key_id=s3["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=s3["AWS_SECRET_ACCESS_KEY"], region_name=s3["AWS_DEFAULT_REGION"])

            def latest() -> str | None:
                with contextlib.suppress(Exception):
                    return s3c.get_object(Bucket="assetmap", Key="trial/public/LATEST")["Body"].read().decode()
                return None

            # 1. a dropped provider file: one worker ingests it, its snapshot reaches the bucket and
            # the public front door (a replica following the bucket) serves it
            wait_until(lambda: "Trial Welcome ESOL" in _services(public_front), 60,
                       what="the guide's file on the public front door")
            before = latest()
            t_drop = _drop(inbox, "partnership-esol.csv",
                           ["pship-1,Partnership Welcome ESOL,esol_provider,52.779,-1.252,15"])
            wait_until(lambda: (n := latest()) != before and n, 120, every=0.2, what="a new LATEST in the bucket")
            drop_to_bucket_s = time.monotonic() - t_drop
            wait_until(lambda: "Partnership Welcome ESOL" in _services(public_front), 60, every=0.5,
                       what="the public front door serving it")
            drop_to_front_s = time.monotonic() - t_drop

            dep = get_json(f"{api}/deployments/name/refresh_all/manual")
            assert dep["work_pool_name"] == POOL and dep["entrypoint"] == "pipelines.flows:refresh_all"

            # 2. a burst: every run writes the store; both workers take some, one writes at a time
            t_burst = time.monotonic()
            ids = [post_json(f"{api}/deployments/{dep['id']}/create_flow_run", {})["id"] for _ in range(BURST)]
            final = wait_until(lambda: (rs := _runs(api, ids)) and all(
                r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in rs) and rs,
                300, every=1.0, what=f"{BURST} runs finished")
            burst_s = time.monotonic() - t_burst
            assert [r["state_type"] for r in final] == ["COMPLETED"] * BURST
            sections = wait_until(lambda: len(s := _writer_sections(api, ids)) == BURST and s, 60,
                                  what="every run's writer section in the logs")
            limit = sections[0][3]
            assert {s[3] for s in sections} == {limit}  # one store, one limit
            gcl = [g for g in post_json(f"{api}/v2/concurrency_limits/filter", {}) if g["name"] == limit]
            assert [g["limit"] for g in gcl] == [1]
            overlaps = [(a, b) for a, b in itertools.pairwise(sections) if b[0] < a[1]]
            assert overlaps == [], overlaps
            waited = max(s[4] for s in sections)
            assert waited > 1.0  # runs did queue for the limit
            split = {w: sum(1 for s in sections if s[2] == w) for w in ("w1", "w2")}
            assert split["w1"] > 0 and split["w2"] > 0, split

            # 3. a worker lost mid-recompute (killed with everything it started, as when its
            # machine goes). A file dropped meanwhile is ingested by the other worker within a
            # minute; the server notices the silent run, marks it Crashed and schedules it again,
            # and the other worker redoes it
            workers = {w: psutil.Process(int((site / w / "worker.pid").read_text())) for w in ("w1", "w2")}
            run = post_json(f"{api}/deployments/{dep['id']}/create_flow_run", {})
            holder = wait_until(lambda: (h := _holder(api, holder_variable(limit))) and
                                h.get("flow_run_id") == run["id"] and h, 90, every=0.1,
                                what="the recompute holding the store")
            lost = workers[holder["worker"]]
            survivor = "w2" if holder["worker"] == "w1" else "w1"
            family = [lost, *lost.children(recursive=True)]
            assert len(family) >= 3, [p.cmdline() for p in family]  # it, its Prefect worker, the run
            for proc in family:
                proc.send_signal(signal.SIGKILL)
            t_kill = _drop(inbox, "while-a-worker-was-lost.csv",
                           ["pship-2,Lost Worker ESOL,esol_provider,52.780,-1.251,12"])

            def ingested_runs() -> list[dict]:
                rs = post_json(f"{api}/flow_runs/filter", {"flows": {"name": {"any_": ["ingest_file"]}},
                                                           "limit": 50})
                return [r for r in rs if r["state_type"] == "COMPLETED"]

            wait_until(lambda: list((inbox / "processed").glob("*_while-a-worker-was-lost.csv")), 120,
                       what="the other worker's ingest")
            ingest_s = time.monotonic() - t_kill

            def held_up() -> float | None:  # the last ingest's own wait for the store, as it logged it
                done = ingested_runs()
                s = _writer_sections(api, [r["id"] for r in done])
                return s[-1][4] if len(s) >= 3 else None  # the guide's file, the first drop, this one

            ingest_wait_s = wait_until(held_up, 60, what="the ingest's writer section in its logs")
            assert ingest_wait_s < 60, (ingest_wait_s, ingest_s)
            final = wait_until(lambda: (r := get_json(f"{api}/flow_runs/{run['id']}"))["state_type"] in
                               ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") and r, 150,
                               what="the lost recompute retried and finished")
            redo_s = time.monotonic() - t_kill
            assert final["state_type"] == "COMPLETED" and final["run_count"] == 2, final
            said = [st.get("message") or "" for st in get_json(f"{api}/flow_run_states/?flow_run_id={run['id']}")]
            assert any("no heartbeat" in m for m in said) and any("retried" in m for m in said), said

            def logged(**where) -> list[str]:
                return [r["message"] for r in post_json(f"{api}/logs/filter", {"logs": where, "limit": 200})]

            wait_until(lambda: any(m.startswith(f"writer {survivor} took") for m in
                                   logged(flow_run_id={"any_": [run["id"]]})), 30, what="the retry's writer")
            wait_until(lambda: any(f"freed the store's writer limit from {holder['worker']}" in m
                                   for m in logged(level={"ge_": 30})), 30, what="the lost holder's lease freed")

            # 4. `assetmap worker` alone killed with kill -9: the Prefect worker it started goes with it
            me = workers[survivor]
            prefect_workers = [c for c in me.children(recursive=True)
                               if "worker" in " ".join(c.cmdline()) and "prefect" in " ".join(c.cmdline())]
            assert prefect_workers, [c.cmdline() for c in me.children(recursive=True)]
            me.kill()
            _, left = psutil.wait_procs(prefect_workers, timeout=30)
            assert not left, [p.cmdline() for p in left]

            # 5. the guide's backup and restore drill; then the restarted workers take files again
            before = latest()
            t_drill = time.monotonic()
            _run_script(drill, env, tmp_path / "drill.log", site)
            drill_s = time.monotonic() - t_drill
            status = json.loads((site / "status.json").read_text())
            assert latest() != before
            assert (site / "prefect.dump").stat().st_size > 0 and (site / "store-before-restore.duckdb").exists()
            from assetmap.db.store import connect

            con = connect(site / "store" / "assetmap.duckdb", read_only=True)
            try:
                kept = {r[0] for r in con.execute("SELECT name FROM assets WHERE name IN (?, ?, ?)",
                                                  ["Trial Welcome ESOL", "Partnership Welcome ESOL",
                                                   "Lost Worker ESOL"]).fetchall()}
            finally:
                con.close()
            assert kept == {"Trial Welcome ESOL", "Partnership Welcome ESOL", "Lost Worker ESOL"}, (kept, status)
            _drop(inbox, "after-the-restore.csv", ["pship-3,Restored ESOL,esol_provider,52.781,-1.250,10"])
            wait_until(lambda: "Restored ESOL" in _services(public_front), 120, every=0.5,
                       what="a file after the restore on the public front door")
        finally:
            _stop_tagged(tag)
    print(f"\ndeploy guide: its commands up to a file through it {guide_s:.1f} s; drop -> bucket "
          f"{drop_to_bucket_s:.1f} s, -> public front door {drop_to_front_s:.1f} s; burst of {BURST} runs in "
          f"{burst_s:.1f} s, split {split}, 0 overlaps, longest wait for the writer {waited:.1f} s; a worker lost "
          f"mid-recompute: the other's ingest waited {ingest_wait_s:.1f} s for the store and was done "
          f"{ingest_s:.1f} s after, the recompute redone {redo_s:.1f} s after; the restore drill {drill_s:.1f} s")
