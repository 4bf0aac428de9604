"""Snapshots on S3-compatible object storage: published by the pipeline, followed by readers.

With ``ASSETMAP_SNAPSHOT_URL=s3://bucket/prefix`` each published snapshot is uploaded as
``prefix/<variant>/<id>.duckdb`` (with its ``<id>.json``), and then the pointer
``prefix/<variant>/LATEST`` is replaced, so a follower that reads ``LATEST`` always finds the
whole file it names. A machine without the working store (a dashboard replica elsewhere)
follows ``LATEST``: each new snapshot is downloaded once, to a temporary name and renamed, into
``<home>/snapshot-cache/<variant>/``, and opened read-only from there like a local one. A public
replica asks only for the ``public`` variant, which holds no sensitive site.

The endpoint and keys are boto3's usual ones (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), so SeaweedFS, Ceph's radosgw, moto or AWS
itself all serve.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assetmap.errors import AssetmapError
from assetmap.settings import settings

log = logging.getLogger(__name__)

LATEST = "LATEST"
_KEEP_CACHED = 2


class ObjectStoreError(AssetmapError, RuntimeError):
    """The bucket could not be reached, or does not hold what was asked for."""


@dataclass(frozen=True)
class Location:
    """A bucket and the prefix of a store's snapshots in it."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """Return the object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)


def location(url: str | None = None) -> Location:
    """Return the bucket and prefix of ``url`` (default: ``settings.snapshot_url``)."""
    parsed = urlparse(url or settings.snapshot_url)
    if parsed.scheme != "s3" or not parsed.netloc:
        msg = f"not an s3://bucket/prefix URL: {url or settings.snapshot_url!r}"
        raise ObjectStoreError(msg)
    return Location(parsed.netloc, parsed.path.strip("/"))


def _client() -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - installed with assetmap[all]
        msg = ("ASSETMAP_SNAPSHOT_URL is set but boto3 is not installed: "
               "run `make up` once, or `pip install -c constraints.txt boto3`")
        raise ObjectStoreError(msg) from exc
    # a few seconds per attempt, three attempts with the standard mode's back-off: a bucket that
    # hangs is named within a minute, never waited on for good
    timeout = settings.bucket_timeout_s
    return boto3.client("s3", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                            connect_timeout=min(5.0, timeout), read_timeout=timeout))


def _explain(exc: Exception, what: str) -> ObjectStoreError:
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS's own endpoint"
    return ObjectStoreError(f"{what} at {endpoint} failed ({type(exc).__name__}: {exc}); check "
                            "ASSETMAP_SNAPSHOT_URL, AWS_ENDPOINT_URL and the AWS keys")


def upload(variant: str, path: Path, meta: dict[str, Any], url: str | None = None) -> str:
    """Upload one variant's snapshot file and metadata, then move its ``LATEST`` to it.

    Returns the snapshot's object key. Older objects beyond ``settings.keep_snapshots`` go.
    """
    loc = location(url)
    client = _client()
    key = loc.key(variant, path.name)
    try:
        client.upload_file(str(path), loc.bucket, key)
        client.put_object(Bucket=loc.bucket, Key=loc.key(variant, path.stem + ".json"),
                          Body=json.dumps(meta, indent=2).encode(), ContentType="application/json")
        # the pointer last: a follower never reads a LATEST whose file is not whole in the bucket
        client.put_object(Bucket=loc.bucket, Key=loc.key(variant, LATEST), Body=path.name.encode(),
                          ContentType="text/plain")
    except Exception as exc:
        raise _explain(exc, f"uploading {path.name} to s3://{loc.bucket}/{key}") from exc
    _prune_remote(client, loc, variant, path.name)
    return key


def _prune_remote(client: Any, loc: Location, variant: str, latest: str) -> None:
    try:
        listed = client.list_objects_v2(Bucket=loc.bucket, Prefix=loc.key(variant) + "/")
        names = sorted(o["Key"].rsplit("/", 1)[-1] for o in listed.get("Contents", [])
                       if o["Key"].endswith(".duckdb"))
        for name in names[: max(0, len(names) - settings.keep_snapshots)]:
            if name != latest:
                client.delete_objects(Bucket=loc.bucket, Delete={"Objects": [
                    {"Key": loc.key(variant, name)}, {"Key": loc.key(variant, name[:-len(".duckdb")] + ".json")}]})
    except Exception:  # housekeeping: a later publish prunes again
        log.warning("could not prune old snapshots in s3://%s/%s", loc.bucket, loc.key(variant), exc_info=True)


def latest_name(variant: str, url: str | None = None) -> str | None:
    """Return the file name ``LATEST`` points to in the bucket, or None when nothing is published."""
    loc = location(url)
    client = _client()
    try:
        body = client.get_object(Bucket=loc.bucket, Key=loc.key(variant, LATEST))["Body"].read()
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            return None
        raise _explain(exc, f"reading s3://{loc.bucket}/{loc.key(variant, LATEST)}") from exc
    return body.decode().strip() or None


def cache_dir(variant: str) -> Path:
    """Where snapshots of ``variant`` downloaded from the bucket are kept."""
    return Path(settings.home) / "snapshot-cache" / variant


_lock = threading.Lock()
_checked: dict[tuple[str, str], tuple[float, Path | None]] = {}


def follow(variant: str, url: str | None = None, max_age_s: float | None = None) -> Path | None:
    """Return the local copy of the bucket's latest ``variant`` snapshot, downloaded when new.

    ``LATEST`` is asked at most every ``max_age_s`` seconds (default
    ``settings.snapshot_poll_s``) per process; in between the last answer is reused. Once a copy
    is cached, the bucket is asked in a background thread and the copy served at once (the newer
    one from the next call after it arrives), so no page waits on the bucket; only the first call,
    with nothing cached, waits. Returns None when nothing is published yet. When the bucket cannot
    be reached, the copy already cached is served (and a warning logged).
    """
    url = url or settings.snapshot_url
    max_age = settings.snapshot_poll_s if max_age_s is None else max_age_s
    key = (url, variant)
    _keep_watching(variant, url, key)
    with _lock:
        seen = _checked.get(key)
        if seen is not None and time.monotonic() - seen[0] < max_age and (seen[1] is None or seen[1].exists()):
            return seen[1]
        have = seen[1] if seen is not None and seen[1] is not None and seen[1].exists() else \
            _cached_latest(cache_dir(variant))
        if have is not None:
            # a copy is at hand: serve it now and ask the bucket in the background, so a page never
            # waits on a bucket that is slow or hangs
            _checked[key] = (time.monotonic(), have)
            if key not in _asking:
                _asking.add(key)
                threading.Thread(target=_ask, args=(variant, url, key), name=f"follow-{variant}", daemon=True).start()
            return have
    return _ask(variant, url, key, raise_errors=True)


_asking: set[tuple[str, str]] = set()
#: the (url, variant)s whose bucket did not answer when last asked (said once an outage)
_unreachable: set[tuple[str, str]] = set()
#: when each (url, variant) was last asked for by a page, and the thread watching it meanwhile
_visited: dict[tuple[str, str], float] = {}
_watchers: dict[tuple[str, str], threading.Thread] = {}
_generation = 0
#: a followed variant no page has asked for in this long is no longer watched
WATCH_IDLE_S = 600.0


def _keep_watching(variant: str, url: str, key: tuple[str, str]) -> None:
    """Watch the bucket for a newer ``variant`` in the background while pages ask for it.

    While pages ask for ``variant``, ask the bucket for a newer one every ``settings.snapshot_poll_s`` in the
    background, so a publish is downloaded before the next page asks (one page load after it, not two); stop
    after :data:`WATCH_IDLE_S` without a page.
    """
    with _lock:
        _visited[key] = time.monotonic()
        if key in _watchers and _watchers[key].is_alive():
            return
        thread = threading.Thread(target=_watch, args=(variant, url, key, _generation),
                                  name=f"watch-{variant}", daemon=True)
        _watchers[key] = thread
    thread.start()


def _watch(variant: str, url: str, key: tuple[str, str], generation: int) -> None:
    last = time.monotonic()
    while True:
        time.sleep(0.2)  # short steps: a changed poll interval (or forget()) counts at once
        with _lock:
            if generation != _generation or time.monotonic() - _visited.get(key, 0.0) > WATCH_IDLE_S:
                if _watchers.get(key) is threading.current_thread():
                    del _watchers[key]
                return
            if time.monotonic() - last < settings.snapshot_poll_s or key in _asking:
                continue
            _asking.add(key)
        last = time.monotonic()
        _ask(variant, url, key)


def _ask(variant: str, url: str, key: tuple[str, str], raise_errors: bool = False) -> Path | None:
    """Ask the bucket for ``LATEST`` and download what it names when new; remember the answer."""
    folder = cache_dir(variant)
    try:
        name = latest_name(variant, url)
        path = None if name is None else _download(variant, name, folder, url, key)
    except ObjectStoreError:
        path = _cached_latest(folder)
        if path is None and raise_errors:
            raise
        with _lock:
            first = key not in _unreachable  # the watcher asks every second: say it once an outage
            _unreachable.add(key)
        (log.warning if first else log.debug)("the bucket cannot be reached; serving the cached snapshot %s",
                                                path.name if path else "(none yet)", exc_info=first)
    else:
        with _lock:
            back = key in _unreachable
            _unreachable.discard(key)
        if back:
            log.info("the bucket answers again")
    finally:
        with _lock:
            _asking.discard(key)
    with _lock:
        _checked[key] = (time.monotonic(), path)
    return path


def _cached_latest(folder: Path) -> Path | None:
    pointer = folder / LATEST
    if not pointer.exists():
        return None
    path = folder / pointer.read_text().strip()
    return path if path.exists() else None


def _download(variant: str, name: str, folder: Path, url: str | None, key: tuple[str, str]) -> Path:
    """Download ``name`` (when not cached yet) and make it the followed copy.

    The file, the cache's pointer and the answer :func:`follow` serves change together (under the lock), so a page
    that comes once the file is there is served it, not the copy before.
    """
    target = folder / name
    tmp = folder / f".{name}.{os.getpid()}.part"
    fetched = not target.exists()
    if fetched:
        loc = location(url)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            _client().download_file(loc.bucket, loc.key(variant, name), str(tmp))
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise _explain(exc, f"downloading s3://{loc.bucket}/{loc.key(variant, name)}") from exc
        log.info("downloaded %s snapshot %s in %.2f s", variant, name, time.perf_counter() - t0)
    pointer_tmp = folder / f".{LATEST}.{os.getpid()}.tmp"
    pointer_tmp.write_text(name, encoding="utf-8")
    with _lock:
        if fetched:
            os.replace(tmp, target)
        os.replace(pointer_tmp, folder / LATEST)
        _checked[key] = (time.monotonic(), target)
    for old in sorted(folder.glob("*.duckdb"))[:-_KEEP_CACHED]:
        if old.name != name:
            old.unlink(missing_ok=True)  # a reader that has it open keeps reading it
    return target


def forget() -> None:
    """Forget the answers cached by :func:`follow` (tests; a process that changed settings)."""
    global _generation
    with _lock:
        _checked.clear()
        _asking.clear()
        _unreachable.clear()
        _visited.clear()
        _watchers.clear()
        _generation += 1
