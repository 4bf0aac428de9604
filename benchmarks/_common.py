"""What the benchmark scripts share: where things are, peak memory, phases in fresh processes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ASSETMAP_SHARED", REPO.parent / "shared")) / "geodata-sources"
WORK = REPO / ".assetmap" / "bench"


def city_store() -> Path:
    """The demo city, ingested and analysed once (cached in ``.assetmap/bench/city.duckdb``)."""
    from assetmap.analysis import recompute
    from assetmap.db.store import Store
    from assetmap.demo import generate
    from assetmap.ingest import ingest_paths

    db = WORK / "city.duckdb"
    if db.exists():
        return db
    demo = WORK / "city-demo"
    if not (demo / "MANIFEST.json").exists():
        generate(demo, scale="city")
    with Store(db) as s:
        ingest_paths(s, [demo])
        recompute(s)
    return db


def peak_mb() -> float:
    """Peak resident memory of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(script: str, name: str, *args: str) -> dict:
    """Run ``script --phase name args`` in a fresh process (its peak memory its own); its last
    line of output is the phase's result as JSON."""
    cmd = [sys.executable, script, "--phase", name, *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def phase_from_argv(phases: dict, convert=str) -> bool:
    """When called as ``script --phase NAME ARGS...``, run that phase, print its result as JSON
    on the last line (for :func:`run_phase`) and return True; otherwise return False."""
    import argparse
    import logging

    ap = argparse.ArgumentParser()
    ap.add_argument("--phase")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not a.phase:
        return False
    sys.stdout.write(json.dumps(phases[a.phase](*map(convert, a.args))) + "\n")
    return True
