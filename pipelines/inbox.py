"""The inbox: which files are ready, and where they go once processed.

A file dropped into ``geodata/inbox/`` (or ``inbox/submissions/``) is handed on once it is
completely written: its size and modification time have not changed for
``stable_s`` seconds. Hidden files (``.name``) and the temporary files of editors, browsers
and copy tools (``*.tmp``, ``*.part``, ``*.crdownload``, ``*~``, ``~$*``) are ignored. Once
processed, a file moves to ``inbox/processed/``; a refused one to ``inbox/rejected/``, with a
``<name>.report.json`` beside it saying why.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROCESSED = "processed"
REJECTED = "rejected"
SUBMISSIONS = "submissions"
_TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".swp", ".download")


def is_candidate(path: Path, inbox: Path) -> bool:
    """A file the watcher should consider: not hidden, not temporary, not already handled."""
    try:
        rel = path.resolve().relative_to(inbox.resolve())
    except ValueError:
        return False
    parts = rel.parts
    if not parts or parts[0] in (PROCESSED, REJECTED):
        return False
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != SUBMISSIONS):
        return False
    name = parts[-1]
    if name.startswith(".") or name.startswith("~$") or name.endswith("~"):
        return False
    if name.lower().endswith(_TEMP_SUFFIXES) or name.endswith(".report.json") or name == ".gitkeep":
        return False
    return True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_received_payload(path: Path) -> dict[str, Any]:
    return {"path": str(path.resolve()), "sha256": sha256_file(path), "size": path.stat().st_size}


def file_away(path: Path, inbox: Path, ok: bool, report: dict[str, Any]) -> Path:
    """Move a processed file to ``processed/`` or ``rejected/`` with its report beside it."""
    folder = inbox / (PROCESSED if ok else REJECTED)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}_{path.name}"
    n = 1
    while target.exists():
        target = folder / f"{stamp}_{n}_{path.name}"
        n += 1
    shutil.move(str(path), target)
    report = {"file": path.name, "moved_to": str(target), **report}
    tmp = target.with_name(f".{target.name}.report.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, target.with_name(target.name + ".report.json"))
    return target


class InboxWatcher:
    """Watch the inbox with ``watchdog``; call ``on_ready(payload)`` once per complete file.

    Parameters
    ----------
    inbox
        The folder to watch (created if missing, with ``submissions/``).
    on_ready
        Called with the ``assetmap.file.received`` payload (path, sha256, size).
    stable_s
        How long size and mtime must stay the same before a file counts as completely written.
    """

    def __init__(self, inbox: Path, on_ready: Callable[[dict[str, Any]], None], stable_s: float = 0.5,
                 poll_s: float = 0.2) -> None:
        self.inbox = Path(inbox)
        self.on_ready = on_ready
        self.stable_s = stable_s
        self.poll_s = poll_s
        self._seen: dict[Path, tuple[int, float, float]] = {}
        self._handed: dict[Path, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = None
        self._thread: threading.Thread | None = None

    # -- watchdog events mark files to look at; the checker decides when they are complete --
    def notice(self, path: str | Path) -> None:
        p = Path(path)
        if is_candidate(p, self.inbox):
            with self._lock:
                self._seen.setdefault(p, (-1, -1.0, time.monotonic()))

    def start(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self.inbox.mkdir(parents=True, exist_ok=True)
        (self.inbox / SUBMISSIONS).mkdir(exist_ok=True)
        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event):  # noqa: ANN001 (watchdog's event type)
                if event.is_directory:
                    return
                watcher.notice(getattr(event, "dest_path", None) or event.src_path)
                if getattr(event, "dest_path", None):
                    watcher.notice(event.src_path)

        self._observer = Observer()
        self._observer.schedule(_Handler(), str(self.inbox), recursive=True)
        self._observer.start()
        # files that arrived while nothing was watching
        for p in sorted(self.inbox.rglob("*")):
            if p.is_file():
                self.notice(p)
        self._thread = threading.Thread(target=self._run, name="inbox-checker", daemon=True)
        self._thread.start()
        log.info("watching %s", self.inbox)

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.poll_s)

    def check(self) -> list[Path]:
        """Hand on every watched file whose size and mtime have been stable long enough."""
        ready: list[Path] = []
        now = time.monotonic()
        with self._lock:
            items = list(self._seen.items())
        for p, (size, mtime, since) in items:
            try:
                st = p.stat()
            except FileNotFoundError:
                with self._lock:
                    self._seen.pop(p, None)
                    self._handed.pop(p, None)
                continue
            if (st.st_size, st.st_mtime) != (size, mtime):
                with self._lock:
                    self._seen[p] = (st.st_size, st.st_mtime, now)
                continue
            if now - since < self.stable_s or st.st_size == 0:
                continue
            with self._lock:
                self._seen.pop(p, None)
                if self._handed.get(p) == (st.st_size, st.st_mtime):
                    continue
                self._handed[p] = (st.st_size, st.st_mtime)
            ready.append(p)
        for p in ready:
            try:
                payload = file_received_payload(p)
            except FileNotFoundError:
                continue
            log.info("file received: %s (%d bytes)", p, payload["size"])
            try:
                self.on_ready(payload)
            except Exception:  # the watcher keeps watching whatever one hand-off does
                log.exception("handing on %s failed", p)
        return ready
