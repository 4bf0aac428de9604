"""Separation below the application.

A public dashboard replica confines itself, with Linux's Landlock, to what the public may see.

The disclosure rule (:mod:`assetmap.disclosure`) decides what a public snapshot holds; this module
makes sure a public replica's *process* can read nothing else, whatever a bug in a page might try.
Landlock is a Linux security module any unprivileged process can use to restrict itself and its
children; the kernel then refuses, with ``EACCES``, every file the ruleset does not name
(Salaün, "Landlock: unprivileged access control", Linux kernel documentation, 2021-2025). The
ruleset here allows:

- reading the system's libraries and configuration, the Python installation, assetmap's own code,
  the DuckDB spatial extension, and **the public snapshots' folder** (written to as well when the
  replica fetches them from a bucket);
- writing its own runtime folder (temporary files, caches, the ready file) and creating files in
  the inbox's ``submissions/`` folder (the Suggest page), without reading what others sent;
- on ABI 4 and later, binding and connecting only its own port (it calls out to no one).

It does not allow the working store, the partner snapshots, the rest of the inbox, the home's
secrets, or ``/proc`` beyond the process's own entries and the system-wide counters. The rules hold
for the thread that applies them and every thread and process it starts afterwards, so they are
applied first thing, while the process has one thread.

Uses py-landlock (the kernel's system calls, with its ABI versions handled best-effort).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assetmap.errors import AssetmapError

log = logging.getLogger(__name__)

_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/sys", "/opt")
_PROC_READ = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/loadavg",
              "/proc/filesystems", "/proc/mounts")


class ConfinementError(AssetmapError, RuntimeError):
    """Confinement was asked for (``ASSETMAP_CONFINE=on``) and cannot be given."""


@dataclass
class Plan:
    """What a confined process may touch.

    Attributes
    ----------
    read
        Folders and files it may read (and list).
    read_write
        Folders it may read, write, create and remove files in.
    create_only
        Folders it may create and replace files in, without reading them.
    ports
        TCP ports it may bind and connect to (all others refused on Landlock ABI 4 and later).
    denied
        Files that must stay out of reach: checked after the rules apply.
    """

    read: list[Path] = field(default_factory=list)
    read_write: list[Path] = field(default_factory=list)
    create_only: list[Path] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    denied: list[Path] = field(default_factory=list)


def available() -> int:
    """Return the kernel's Landlock ABI version, or 0 where there is none (not Linux, too old, or off)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        import py_landlock
    except ImportError:
        return 0
    try:
        return int(py_landlock.get_abi_version())
    except py_landlock.LandlockError:
        return 0


def _existing(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.exists() and path not in out:
            out.append(path)
    return out


def _code_paths() -> list[Path]:
    """Return the Python installation and the code this process runs.

    The interpreter's prefixes, every ``site-packages`` on the path, and assetmap's own packages (never the
    folder above them, which may hold a home with the working store).
    """
    import assetmap

    paths: list[str | os.PathLike[str]] = [sys.base_prefix, sys.prefix, sys.exec_prefix,
                                           Path(sys.executable).resolve().parent]
    paths += [p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p
                                              or p.startswith((sys.base_prefix, sys.prefix)))]
    root = Path(assetmap.__file__).resolve().parent.parent
    paths += [root / name for name in ("assetmap", "dashboards", "pipelines", ".streamlit")]
    return _existing(paths)


def public_replica_plan(db_path: Path, public_dir: Path, inbox: Path | None, runtime: Path,
                        port: int | None, fetches: bool = False) -> Plan:
    """Return the plan of a dashboard replica that serves the public variant only.

    Parameters
    ----------
    db_path
        The working store (denied, with its write-ahead log and the partner snapshots beside it).
    public_dir
        The public snapshots' folder (read; read and written when ``fetches``).
    inbox
        The inbox: its ``submissions/`` folder takes new files; nothing else in it is reachable.
    runtime
        The replica's own folder (temporary files, caches, its ready file).
    port
        The port it serves on (and visits itself on, once, to warm its first page).
    fetches
        It follows a bucket's pointer and downloads the public snapshots itself.
    """
    from assetmap.db.store import spatial_extension_path
    from assetmap.snapshots import LATEST, PARTNER, snapshot_dir

    public_dir.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(parents=True, exist_ok=True)
    read = _existing([*_SYSTEM_READ, *_PROC_READ, f"/proc/{os.getpid()}"]) + _code_paths()
    read += _existing([spatial_extension_path().parent])
    # one that fetches from a bucket talks to its endpoint: it keeps the network
    plan = Plan(read=read, ports=[port] if port and not fetches else [])
    (plan.read_write if fetches else plan.read).append(public_dir)
    plan.read_write += [runtime, *_existing(["/dev"])]
    if inbox is not None:
        submissions = inbox / "submissions"
        submissions.mkdir(parents=True, exist_ok=True)
        plan.create_only.append(submissions)
    partner = snapshot_dir(db_path, PARTNER)
    plan.denied = [Path(db_path), partner / LATEST, *sorted(partner.glob("*.duckdb"))[-1:]]
    if inbox is not None:  # a file waiting in the inbox (not a placeholder such as .gitkeep)
        plan.denied += sorted(p for p in inbox.glob("[!.]*") if p.is_file())[:1]
    return plan


def apply(plan: Plan) -> int:
    """Restrict this process (and what it starts) to ``plan``; return the Landlock ABI used.

    Raises :class:`ConfinementError` when the kernel has no Landlock, and when a path named in
    ``plan.denied`` can still be opened afterwards (the rules are then wrong: fail closed).
    """
    abi = available()
    if not abi:
        msg = ("this kernel has no Landlock (Linux 5.13 or later, with landlock in the "
               "lsm= boot option); run the public replicas as a user that cannot read the "
               "working store instead, or set ASSETMAP_CONFINE=off to run without")
        raise ConfinementError(msg)
    from py_landlock import AccessFs, Landlock

    tempfile.tempdir = None  # the next call reads TMPDIR again (set to the runtime folder)
    file_read = AccessFs.READ_FILE | AccessFs.EXECUTE  # libraries are mapped executable
    dir_read = file_read | AccessFs.READ_DIR
    write = (AccessFs.WRITE_FILE | AccessFs.TRUNCATE | AccessFs.MAKE_REG | AccessFs.MAKE_DIR
             | AccessFs.MAKE_SYM | AccessFs.REMOVE_FILE | AccessFs.REMOVE_DIR)
    create = AccessFs.MAKE_REG | AccessFs.WRITE_FILE | AccessFs.TRUNCATE | AccessFs.REMOVE_FILE
    ll = Landlock(strict=False)
    for path in plan.read:  # a rule on a file may name only what a file can do
        ll.add_path_rule(path, access=dir_read if path.is_dir() else file_read)
    for path in plan.read_write:
        ll.add_path_rule(path, access=dir_read | write)
    for path in plan.create_only:
        ll.add_path_rule(path, access=create)
    if plan.ports:
        ll.allow_network(*plan.ports, bind=True, connect=True)
    else:
        ll.allow_all_network()
    ll.allow_all_scope()  # `up` and its balancer signal and talk to the replica as before
    ll.apply()
    opened = [p for p in plan.denied if _opens(p)]
    if opened:
        msg = (f"confined, yet {', '.join(map(str, opened))} can still be opened: "
               "the rules are wrong, so this replica will not serve")
        raise ConfinementError(msg)
    return abi


def _opens(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except (FileNotFoundError, PermissionError):
        return False
    return True


def confine_public_replica(db_path: Path, public_dir: Path, inbox: Path | None, port: int | None,
                           mode: str = "auto", fetches: bool = False) -> str:
    """Confine this process as a public replica, as ``mode`` says; return a line for the log.

    ``mode`` is ``auto`` (confine where the kernel can, say so where it cannot), ``on`` (confine or
    raise :class:`ConfinementError`) or ``off``.
    """
    if mode == "off":
        return "not confined (ASSETMAP_CONFINE=off): this replica's process can read the working store"
    runtime = Path(os.environ.get("ASSETMAP_RUNTIME_DIR") or tempfile.mkdtemp(prefix="assetmap-replica-"))
    runtime.mkdir(parents=True, exist_ok=True)
    for var in ("TMPDIR", "NUMBA_CACHE_DIR", "MPLCONFIGDIR"):
        os.environ[var] = str(runtime)
    if not available():
        if mode == "on":
            apply(Plan())  # raises, naming what is missing
        return ("not confined: this kernel has no Landlock, so the replica's process could read the working "
                "store; run it as a user that cannot (docs/deploy.md)")
    plan = public_replica_plan(db_path, public_dir, inbox, runtime, port, fetches)
    abi = apply(plan)
    checked = ", ".join(p.name for p in plan.denied if p.exists()) or "nothing there yet"
    return (f"confined to the public snapshots (Landlock ABI {abi}): the working store and the partner "
            f"snapshots cannot be opened (checked: {checked})")
