"""The inbox: which files are ready, and where they go once processed.

A file dropped into ``geodata/inbox/`` (or ``inbox/submissions/``) is handed on once it is
completely written: its size and modification time have not changed for
``stable_s`` seconds. Hidden files (``.name``) and the temporary files of editors, browsers
and copy tools (``*.tmp``, ``*.part``, ``*.crdownload``, ``*~``, ``~$*``) are ignored. Once
processed, a file moves to ``inbox/processed/``; a refused one to ``inbox/rejected/``, with a
``<name>.report.json`` beside it saying why.

The inbox is a trust boundary: partners, scripts and sync tools drop files there. Nothing in it
is followed or opened blindly:

- a run **claims** each file before it reads it, by an atomic rename into its own working folder
  ``inbox/.claimed/<run>/`` (:func:`claim`), so exactly one run owns it, and a run that finds
  it gone moves on;
- symbolic links (whatever they point at), pipes, devices and folders are handed on like files,
  so that the pipeline moves them (the link itself, never its target) to ``rejected/`` with a
  report; nothing reads them (``read_bytes(no_follow=True)`` refuses them unread);
- the watcher never reads a file's content except through a no-follow, non-blocking open.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assetmap import events

log = logging.getLogger(__name__)

PROCESSED = "processed"
REJECTED = "rejected"
SUBMISSIONS = "submissions"
CLAIMED = ".claimed"
_OWN = (PROCESSED, REJECTED, CLAIMED)
_TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".swp", ".download")


def is_candidate(path: Path, inbox: Path) -> bool:
    """An entry the watcher should hand on: not hidden, not temporary, not already handled.

    The entry is judged by where it stands, not where a link in it points: a symbolic link in
    the inbox is a candidate (to be refused), wherever its target is.
    """
    try:
        rel = (path.parent.resolve() / path.name).relative_to(inbox.resolve())
    except ValueError:
        return False
    parts = rel.parts
    if not parts or parts[0] in _OWN or parts == (SUBMISSIONS,):
        return False
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != SUBMISSIONS):
        return False
    name = parts[-1]
    if name.startswith(".") or name.startswith("~$") or name.endswith("~"):
        return False
    return not (name.lower().endswith(_TEMP_SUFFIXES) or name.endswith(".report.json") or name == ".gitkeep")


def _sha256_regular(path: Path) -> tuple[str | None, int]:
    """SHA-256 and size of a regular file, opened without following links or blocking on a
    pipe; ``(None, 0)`` for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None, 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, 0
        os.set_blocking(fd, True)
        h = hashlib.sha256()
        for chunk in iter(lambda: os.read(fd, 1 << 20), b""):
            h.update(chunk)
        return h.hexdigest(), st.st_size
    finally:
        os.close(fd)


def file_received(path: Path) -> events.FileReceived:
    """The ``assetmap.file.received`` event: where the entry is (the link itself for a link),
    and for a regular file its SHA-256 and size."""
    sha, size = _sha256_regular(path)
    return events.FileReceived(str(path.parent.resolve() / path.name), sha, size)


#: file systems where a rename is not one atomic step seen alike by every machine (object
#: stores and sync tools mounted through FUSE copy, then delete), so two runs could both "claim"
#: a file: an inbox there is refused
_NO_ATOMIC_RENAME = ("fuse.s3fs", "fuse.goofys", "fuse.gcsfuse", "fuse.rclone", "fuse.sshfs", "fuse.davfs",
                     "davfs", "fuse.onedriver", "fuse.dropbox", "fuse.mountpoint-s3", "fuse.blobfuse",
                     "fuse.blobfuse2", "fuse.juicefs")


def claims_unsafe(inbox: Path) -> str | None:
    """Why files cannot be claimed safely in ``inbox`` (its file system renames by copying), or
    None. Claims rely on ``rename`` being atomic on the file system the watchers and workers
    share: true of local disks and of NFS and SMB shares (one server does the rename), not of
    object stores or sync folders mounted through FUSE."""
    import psutil

    path = str(inbox.resolve())
    best = None
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") or "/"
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and (
                best is None or len(mount) > len(best.mountpoint.rstrip("/") or "/")):
            best = part
    if best is not None and best.fstype.lower() in _NO_ATOMIC_RENAME:
        return (f"the inbox {inbox} is on a {best.fstype} file system (mounted at {best.mountpoint}), where a "
                "rename is a copy: two runs could both take a file. Put the inbox on a local disk, or an NFS "
                "or SMB share, and let one machine watch it")
    return None


#: the namespace of the files' event ids (uuid5 of their identity in the inbox)
_EVENT_IDS = uuid.UUID("0f6c1f0e-6d1a-5b8e-9a57-6173736574d0")


def event_id(event: events.FileReceived, inbox: Path) -> uuid.UUID:
    """The id of the ``file.received`` event for a file: the same for every watcher that sees
    the same file (its name in the inbox, size, modification time and SHA-256), so that the
    Prefect server, which evaluates each event id once, starts one run for it however many
    watchers share the inbox; a file dropped again (new mtime) is a new event."""
    path = Path(event.path)
    try:
        rel = str((path.parent.resolve() / path.name).relative_to(inbox.resolve()))
    except ValueError:
        rel = str(path)
    try:
        mtime = os.lstat(path).st_mtime_ns
    except OSError:
        mtime = -1
    return uuid.uuid5(_EVENT_IDS, json.dumps([rel, event.size, mtime, event.sha256]))


def claim(path: Path, inbox: Path, run: str) -> Path | None:
    """Take ``path`` for run ``run``: an atomic rename into ``inbox/.claimed/<run>/`` (keeping
    ``submissions/``), so that exactly one run owns it. None when another run took it first.
    A link is moved as a link: ``rename`` never follows it."""
    rel = (path.parent.resolve() / path.name).relative_to(inbox.resolve())
    target = inbox / CLAIMED / run / rel
    for _ in range(3):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            if not os.path.lexists(path):
                return None  # another run took it
            # the working folder went away under us (a run tidying up): make it again
        else:
            return target
    return None


def claimed_by(inbox: Path, run: str) -> list[tuple[Path, Path]]:
    """What run ``run`` claimed and has not filed away: (where each came in, where it is now).
    A retried run (same run, new process: its first process was lost) takes these back."""
    folder = inbox / CLAIMED / run
    if not folder.is_dir() or folder.is_symlink():
        return []
    out = [(inbox / e.name, folder / e.name) for e in os.scandir(folder) if e.name != SUBMISSIONS]
    subs = folder / SUBMISSIONS
    if subs.is_dir() and not subs.is_symlink():
        out += [(inbox / SUBMISSIONS / e.name, subs / e.name) for e in os.scandir(subs)]
    return sorted(out)


def release(inbox: Path, run: str | None = None, keep: Callable[[str], bool] | None = None) -> list[Path]:
    """Put what a run claimed but did not file away back into the inbox (every run's, when
    ``run`` is None: what a stopped ``up`` left, except the runs ``keep`` names as still at work
    or due to be retried: another watcher's, on a shared inbox), so that it is taken again.
    Entries are moved, never followed."""
    root = inbox / CLAIMED
    runs = [root / run] if run else [root / e.name for e in os.scandir(root)] if root.is_dir() else []
    if keep is not None and run is None:
        runs = [folder for folder in runs if not keep(folder.name)]
    back: list[Path] = []
    for folder in runs:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for target, entry in claimed_by(inbox, folder.name):
            if os.path.lexists(target):
                target = target.with_name(f"{uuid.uuid4().hex[:8]}_{target.name}")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(entry, target)
                # a new mtime, so that a watcher that handed it on before hands it on again
                os.utime(target, follow_symlinks=False)
                back.append(target)
            except OSError:
                log.warning("could not put %s back into the inbox", entry.name)
        shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(root)  # only when no other run is working
    return back


def file_away(path: Path, inbox: Path, ok: bool, report: dict[str, Any]) -> Path:
    """Move a processed file to ``processed/`` or ``rejected/`` with its report beside it."""
    folder = inbox / (PROCESSED if ok else REJECTED)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}_{path.name}"
    n = 1
    while os.path.lexists(target):
        target = folder / f"{stamp}_{n}_{path.name}"
        n += 1
    shutil.move(str(path), target)
    report = {"file": path.name, "moved_to": str(target), **report}
    tmp = target.with_name(f".{target.name}.report.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, target.with_name(target.name + ".report.json"))
    return target


class InboxUnsafe(RuntimeError):
    """The inbox is where files cannot be claimed safely (:func:`claims_unsafe`)."""


class InboxWatcher:
    """Watch the inbox with ``watchdog``; call ``on_ready(event)`` once per complete file.

    Parameters
    ----------
    inbox
        The folder to watch (created if missing, with ``submissions/``).
    on_ready
        Called with the :class:`~assetmap.events.FileReceived` event (path, sha256, size).
    stable_s
        How long size and mtime must stay the same before a file counts as completely written.
    scan_s
        How often the inbox is also listed (links, pipes and folders, and anything the file
        system's notifications missed).
    keep_claims
        Given a run's id, whether its claimed files must stay where they are when the watcher
        starts (the run is still at work, or will be retried and take them back itself); the
        others' go back into the inbox.
    """

    def __init__(self, inbox: Path, on_ready: Callable[[events.FileReceived], None], stable_s: float = 0.5,
                 poll_s: float = 0.2, scan_s: float = 2.0,
                 keep_claims: Callable[[str], bool] | None = None) -> None:
        self.keep_claims = keep_claims
        self.inbox = Path(inbox)
        self.on_ready = on_ready
        self.stable_s = stable_s
        self.poll_s = poll_s
        self.scan_s = scan_s
        self._seen: dict[Path, tuple[int, float, float]] = {}
        self._handed: dict[Path, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer: Any = None
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
        unsafe = claims_unsafe(self.inbox)
        if unsafe:
            raise InboxUnsafe(unsafe)
        (self.inbox / SUBMISSIONS).mkdir(exist_ok=True)
        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                watcher.notice(getattr(event, "dest_path", None) or event.src_path)
                if getattr(event, "dest_path", None):
                    watcher.notice(event.src_path)

        self._observer = Observer()
        self._observer.schedule(_Handler(), str(self.inbox), recursive=True)
        self._observer.start()
        # what a stopped run had claimed and not filed away
        released = release(self.inbox, keep=self.keep_claims)
        if released:
            log.info("put %d claimed files back into the inbox", len(released))
        self.scan()  # files that arrived while nothing was watching
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

    def scan(self) -> None:
        """Notice every entry of the inbox and of ``submissions/``, whatever it is (``lstat``
        only: nothing is followed or opened)."""
        for folder in (self.inbox, self.inbox / SUBMISSIONS):
            try:
                names = [e.name for e in os.scandir(folder)]
            except OSError:
                continue
            for name in names:
                self.notice(folder / name)

    def _run(self) -> None:
        last_scan = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - last_scan >= self.scan_s:
                self.scan()
                last_scan = time.monotonic()
            self.check()
            self._stop.wait(self.poll_s)

    def check(self) -> list[Path]:
        """Hand on every watched entry whose size and mtime have been stable long enough."""
        ready: list[Path] = []
        now = time.monotonic()
        with self._lock:
            items = list(self._seen.items())
        for p, (size, mtime, since) in items:
            try:
                st = os.lstat(p)  # the entry itself: a link is not followed
            except FileNotFoundError:
                with self._lock:
                    self._seen.pop(p, None)
                    self._handed.pop(p, None)
                continue
            if (st.st_size, st.st_mtime) != (size, mtime):
                with self._lock:
                    self._seen[p] = (st.st_size, st.st_mtime, now)
                continue
            # an empty file may be one being created: it waits longer, then is handed on (and
            # refused as empty) rather than left in the inbox for ever
            empty = stat.S_ISREG(st.st_mode) and st.st_size == 0
            if now - since < self.stable_s * (10 if empty else 1):
                continue
            with self._lock:
                self._seen.pop(p, None)
                if self._handed.get(p) == (st.st_size, st.st_mtime):
                    continue
                self._handed[p] = (st.st_size, st.st_mtime)
            ready.append(p)
        for p in ready:
            if not os.path.lexists(p):
                continue
            event = file_received(p)
            log.info("file received: %s (%s)", p.name,
                     f"{event.size} bytes" if event.sha256 else "not a regular file")
            try:
                self.on_ready(event)
            except Exception:  # the watcher keeps watching whatever one hand-off does
                log.exception("handing on %s failed", p)
        return ready
