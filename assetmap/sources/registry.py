"""The reader registry: one :class:`Reader` per format, so a new format is one module and one line.

A reader says how to recognise its files (from the bytes of a binary container, a parsed JSON
document, or a CSV header), how to read them into rows (:class:`~assetmap.sources._io.ReadResult`,
with what it could not read quarantined), and how to write those rows into the store inside the
ingest's transaction (:class:`Written`). The ingest (:mod:`assetmap.ingest`) does the rest the
same way for every format: the audit record, row accounting, quarantine, events.

To add a format: write ``assetmap/sources/<format>.py`` with ``read``, ``write`` and a
``READER = Reader(...)``, and add it to :data:`assetmap.sources.READERS` at the place in the
sniffing order where it belongs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assetmap.sources._io import ReadResult


@dataclass
class Written:
    """What a reader's writer stored, for the ingest's audit record and events."""

    accepted: int
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    #: the wards whose analysis the change reaches
    wards: list[str] = field(default_factory=list)
    #: assets added, altered or moved (0 for files that hold none)
    changed: int = 0
    note: str = ""


Writer = Callable[[duckdb.DuckDBPyConnection, ReadResult, int, str, dict[str, Any]], Written]


@dataclass(frozen=True)
class Reader:
    """One format: how it is recognised, read and written.

    Parameters
    ----------
    kind
        The name users give with ``--kind`` and the ingest records.
    description
        One line for ``assetmap ingest --help`` and the docs.
    read
        ``read(path, data, options) -> ReadResult``.
    write
        ``write(con, result, ingest_id, source, options) -> Written``, inside the transaction.
    tables
        The data tables it writes.
    rank
        Where its files go in a folder's order: what later files depend on comes first
        (boundaries 0, lookups 1, postcodes 2, tables by area 3, assets 4).
    binary, json, csv
        Recognisers for the three shapes a file can have: ``binary(data, path)`` for a
        container (workbook, GeoPackage...), ``json(doc, options)`` for a parsed document,
        ``csv(header, text, options)`` for a delimited table. ``None``: never this shape.
    holds_assets
        Its rows are assets (validated, placed and de-duplicated the same way).
    """

    kind: str
    description: str
    read: Callable[[Path, bytes, dict[str, Any]], ReadResult]
    write: Writer
    tables: tuple[str, ...]
    rank: int
    binary: Callable[[bytes, Path], bool] | None = None
    json: Callable[[Any, dict[str, Any]], bool] | None = None
    csv: Callable[[list[str], bytes, dict[str, Any]], bool] | None = None
    holds_assets: bool = False
