"""Area lookup CSVs: OA to ward (and LSOA, MSOA, local authority), as ONS publishes them.

Columns are found by name: ``OA21CD``/``OA11CD`` for the output area, ``WD22CD``, ``LSOA21CD``,
``MSOA21CD``, ``LAD22CD`` (any year) for the parents; ``..NM`` columns give names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from assetmap.db import geography
from assetmap.sources._duckcsv import read_csv_head, read_lookup
from assetmap.sources._io import FileRefused, ReadResult, level_of, norm_key, quarantine_row, read_csv_records
from assetmap.sources._store import upsert_lookup
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS

KIND = "lookup"

_CHILD = re.compile(r"^oa\d{2}cd$")
_PARENTS = {"wd": "ward", "ward": "ward", "lsoa": "lsoa", "msoa": "msoa", "lad": "la", "ltla": "la"}
_PARENT = re.compile(r"^(wd|ward|lsoa|msoa|lad|ltla)\d{0,2}cd$")


def columns(header: list[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """(OA column, [(parent column, parent level)]) when the header is a lookup's, else None."""
    child = next((h for h in header if _CHILD.match(norm_key(h)) or norm_key(h) == "oacode"), None)
    if child is None:
        return None
    parents = []
    for h in header:
        m = _PARENT.match(norm_key(h))
        if m:
            parents.append((h, _PARENTS[m.group(1)]))
    return (child, parents) if parents else None


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read an OA lookup: by DuckDB when the file is clean (the national lookup is), else row by row."""
    path = Path(path)
    head = read_csv_head(path, data)
    if head is not None:
        plain, delimiter, header, _first = head
        cols = columns(header)
        if cols is not None:
            pos = {h: i for i, h in enumerate(header)}
            child, parents = cols
            got = read_lookup(plain, delimiter, header, pos[child], [(pos[h], lvl) for h, lvl in parents])
            if got is not None:
                frame, quarantine, rows_read = got
                return ReadResult(KIND, frame, quarantine, rows_read,
                                  {"parents": [p for _, p in parents], "engine": "duckdb"})
    return read_rows(path, data, options)


def read_rows(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read row by row: every kind of damaged file, one row at a time."""
    path = Path(path)
    rec = read_csv_records(data, path)
    cols = columns(rec.header)
    if cols is None:
        raise FileRefused("missing_columns", f"{path}: a lookup needs an OA code column (OA21CD) "
                                             "and at least one parent code column (WD22CD, LAD22CD...)")
    child, parents = cols
    quarantine = list(rec.quarantine)
    out = []
    for rn, row in rec.rows:
        oa = row[child].strip()
        if level_of(oa) != "oa":
            quarantine.append(quarantine_row(rn, row, "invalid_code", f"row {rn}: {oa!r} is not an "
                                                                      "output area code"))
            continue
        wrong = [(h, row[h]) for h, lvl in parents if row[h].strip() and level_of(row[h].strip()) != lvl]
        if wrong:
            h, v = wrong[0]
            quarantine.append(quarantine_row(rn, row, "invalid_code", f"row {rn}: {h} = {v!r} is not "
                                                                      "a code of that level"))
            continue
        for h, lvl in parents:
            if row[h].strip():
                out.append((rn, oa, lvl, row[h].strip()))
    frame = pd.DataFrame(out, columns=["row_number", "area_code", "parent_level", "parent_code"])
    raw_by_row = dict(rec.rows)
    dup = frame.duplicated(["area_code", "parent_level"], keep="first")
    if dup.any():
        for rn in frame.loc[dup, "row_number"].unique():
            quarantine.append(quarantine_row(int(rn), raw_by_row[int(rn)],
                                             "duplicate_area", f"row {rn}: this OA already has a parent "
                                                               "of that level earlier in the file"))
        bad_rows = set(frame.loc[dup, "row_number"])
        frame = frame[~frame["row_number"].isin(bad_rows)]
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {"parents": [p for _, p in parents]})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    if not frame.empty:
        upsert_lookup(con, frame, ingest_id)
        geography.refresh_parent_codes(con)
    moved = geography.reassign_assets(con)
    wards = sorted(frame.loc[frame["parent_level"] == "ward", "parent_code"].unique().tolist())
    return Written(int(frame["row_number"].nunique()), result.quarantine, wards, moved,
        f"{frame['area_code'].nunique()} areas looked up")


READER = Reader(
    KIND, KINDS[KIND], read, write, tables=("area_lookup",), rank=1,
    csv=lambda header, _text, _options: columns(header) is not None)
