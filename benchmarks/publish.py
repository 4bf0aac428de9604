"""What publishing two snapshot variants costs, and what a bucket adds, on the national demo store.

- reference: copying the store file (what ``publish`` did when it wrote one variant);
- ``publish``: the partner copy (less pending submissions, with the sensitive sites' counts) and
  the public variant written as a new file, table by table, with no row of a sensitive site;
- the bucket: uploading both variants to a real S3 endpoint (``moto_server`` on loopback) and a
  follower downloading the public one.

Run: ``python benchmarks/publish.py`` (builds the national demo store first if missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK, peak_mb, phase_from_argv, run_phase


def phase_publish(db: str) -> dict:
    from assetmap import objectstore
    from assetmap.analysis import recompute
    from assetmap.db.store import Store
    from assetmap.settings import settings
    from assetmap.snapshots import publish
    from pipelines.processes import free_port, wait_http

    path = Path(db)
    with Store(path) as store:
        if not store.scalar("SELECT count(*) FROM unit_access"):
            recompute(store)
        store.con.execute("CHECKPOINT")
        size_mb = path.stat().st_size / 1e6
        sensitive = store.scalar("SELECT count(*) FROM assets WHERE sensitive")
        t = time.perf_counter()
        shutil.copyfile(path, path.with_suffix(".copy"))
        copy_s = time.perf_counter() - t
        path.with_suffix(".copy").unlink()
        t = time.perf_counter()
        snap = publish(store, reason="benchmark")
        publish_s = time.perf_counter() - t
        public = Path(snap.path).parents[1] / "public" / Path(snap.path).name
        public_mb = public.stat().st_size / 1e6

        port = free_port(0)
        moto = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
                                 str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/moto-api/", 60, moto)
            os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
            import boto3

            boto3.client("s3").create_bucket(Bucket="assetmap")
            settings.snapshot_url = "s3://assetmap/bench"
            t = time.perf_counter()
            snap2 = publish(store, reason="benchmark, with the bucket")
            bucket_publish_s = time.perf_counter() - t
            with tempfile.TemporaryDirectory() as other:
                settings.home = Path(other)
                objectstore.forget()
                t = time.perf_counter()
                got = objectstore.follow("public")
                follow_s = time.perf_counter() - t
                assert got is not None and got.stem == snap2.snapshot_id
        finally:
            moto.terminate()
            moto.wait()
    return {"store_mb": size_mb, "public_mb": public_mb, "sensitive": sensitive, "copy_s": copy_s,
            "publish_s": publish_s, "bucket_publish_s": bucket_publish_s, "follow_s": follow_s,
            "peak_mb": peak_mb()}


def main() -> None:
    if phase_from_argv({"publish": phase_publish}):
        return
    db = WORK / "national.duckdb"
    if not db.exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("ingest.py"))], check=True)
    work = WORK / "publish" / "national.duckdb"
    shutil.rmtree(work.parent, ignore_errors=True)
    work.parent.mkdir(parents=True)
    shutil.copy(db, work)
    print(f"assetmap publishing benchmark on {os.cpu_count()} cores")
    r = run_phase(__file__, "publish", str(work))
    print(f"\n[national demo store: {r['store_mb']:,.0f} MB, {r['sensitive']:,} sensitive sites]")
    print(f"  reference, copying the store file: {r['copy_s']:.2f} s")
    print(f"  publish, partner and public variants: {r['publish_s']:.2f} s = {r['publish_s'] / r['copy_s']:.1f}x "
          f"the copy (public file {r['public_mb']:,.0f} MB)")
    print(f"  publish and upload both to S3 (moto on loopback): {r['bucket_publish_s']:.2f} s = "
          f"{r['bucket_publish_s'] / r['publish_s']:.2f}x publish alone")
    print(f"  a follower downloading the public variant: {r['follow_s']:.2f} s; peak {r['peak_mb']:,.0f} MB")
    shutil.rmtree(work.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
