"""What the commands share: the store they open, output, dates, progress bars."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

try:
    from assetmap.settings import settings as settings
except ValueError as _exc:  # a bad ASSETMAP_* variable: say which, without a traceback
    sys.stderr.write(f"assetmap: {_exc}\n")
    raise SystemExit(2) from None

if TYPE_CHECKING:  # the CLI imports its heavy modules only when a command needs them
    import pandas as pd

    from assetmap.db.store import Store

log = logging.getLogger("assetmap")


def _out(text: str = "") -> None:
    """Write a line of the command's result to standard output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _iso_date(text: str) -> str:
    """Return an option's date, checked (``2025-09-30``)."""
    import datetime as _dt

    try:
        return _dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        msg = f"{text!r} is not a date (YYYY-MM-DD)"
        raise argparse.ArgumentTypeError(msg) from None


def _store(args: argparse.Namespace, read_only: bool = False, spatial: bool = True) -> Store:
    """Return the working store; for a reader, the latest snapshot when a pipeline holds the store.

    A reader whose queries call no spatial function passes ``spatial=False`` and starts 0.2 s sooner.
    """
    from assetmap.db.store import Store, StoreBusy, open_store

    if not read_only:
        return open_store(args.db)
    try:
        return open_store(args.db, read_only=True, spatial=spatial)
    except StoreBusy as exc:
        from assetmap.snapshots import open_snapshot

        path = args.db or settings.db_path
        log.warning("the store is busy (%s); reading the latest published snapshot", str(exc).split("\n")[0])
        from assetmap.db.store import require_schema

        con = open_snapshot(path)
        require_schema(con, path, snapshot=True)
        return Store.over(con, path)


def _progress() -> Any:
    """One progress bar on standard error, drawn only on a terminal and gone when done."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal)


@contextlib.contextmanager
def _bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """Return a progress bar as a ``progress(done, total, what)`` callback."""
    with _progress() as bar:
        task = bar.add_task(description, total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{description} {what}"[:70])

        yield progress


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a table as JSON-ready records: dates as ``YYYY-MM-DD``, missing values as null."""
    dates = {c: str for c in ("period", "first", "last", "date") if c in df}
    return cast("list[dict[str, Any]]", json.loads(df.astype(dates).to_json(orient="records")))


def _split(values: list[str] | None) -> list[str]:
    """Repeated or comma-separated option values, as one list."""
    return [v.strip() for x in values or [] for v in x.split(",") if v.strip()]


def _level(store: Store, by: str | None) -> str:
    from assetmap.analysis import default_level

    return by or default_level(store.con)
