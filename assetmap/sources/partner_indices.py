"""Ward-level segregation indices published by a partner (a university, a council's research team).

A CSV with columns ``unit_code`` (or ``ward_code``), ``focal_group, index_name, value`` and
optionally ``ci_low, ci_high``. ``index_name`` must be one assetmap computes (see :mod:`assetmap.segregation`);
``unit_code`` may be any unit code (ward, MSOA, LA). Kept as a source of its own
(``partner_indices``, keyed by source), never mixed with the computed values; ``assetmap
indices --compare`` reports where the two disagree.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from assetmap.db.sql import upsert
from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    drop_repeats,
    level_of,
    norm_key,
    quarantine_row,
    read_csv_records,
)
from assetmap.sources.registry import Reader, Written
from assetmap.vocab import INDEX_NAMES
from assetmap.vocab.file_kinds import KINDS

KIND = "indices"
_REQUIRED = ("focalgroup", "indexname", "value")
_CODE_KEYS = ("unitcode", "wardcode")


def looks_like_indices(header: list[str]) -> bool:
    """Whether a header (or document) is this reader's format."""
    keys = {norm_key(h) for h in header}
    return all(k in keys for k in _REQUIRED) and any(k in keys for k in _CODE_KEYS)


def _num(v: str) -> float | None:
    try:
        x = float(v.strip())
    except (ValueError, AttributeError):
        return None
    return x if math.isfinite(x) else None


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    rec = read_csv_records(data, path)
    col = {norm_key(h): h for h in rec.header}
    if not looks_like_indices(rec.header):
        raise FileRefused("missing_columns", f"{path}: partner indices need columns unit_code, "
                                             "focal_group, index_name, value [, ci_low, ci_high]")
    quarantine = list(rec.quarantine)
    out = []
    for rn, row in rec.rows:
        code = row[col["unitcode" if "unitcode" in col else "wardcode"]].strip()
        name = row[col["indexname"]].strip().lower()
        focal = row[col["focalgroup"]].strip()
        value = _num(row[col["value"]])
        lo = _num(row[col["cilow"]]) if "cilow" in col and row[col["cilow"]].strip() else None
        hi = _num(row[col["cihigh"]]) if "cihigh" in col and row[col["cihigh"]].strip() else None
        if level_of(code) is None:
            quarantine.append(quarantine_row(rn, row, "invalid_code", f"row {rn}: {code!r} is not a GSS area code"))
        elif name not in INDEX_NAMES:
            quarantine.append(quarantine_row(rn, row, "invalid_value",
                                             f"row {rn}: index {name!r} is not one of {', '.join(INDEX_NAMES)}"))
        elif not focal:
            quarantine.append(quarantine_row(rn, row, "missing_required", f"row {rn}: focal_group is empty"))
        elif value is None:
            quarantine.append(quarantine_row(rn, row, "invalid_value",
                                             f"row {rn}: value {row[col['value']]!r} is not a number"))
        else:
            out.append((rn, code, focal, name, value, lo, hi))
    frame = pd.DataFrame(out, columns=["row_number", "unit_code", "focal_group", "index_name", "value",
                                       "ci_low", "ci_high"])
    frame = drop_repeats(frame, ["unit_code", "focal_group", "index_name"], rec.rows, quarantine,
                         "the same unit, group and index")
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    if not frame.empty:
        columns = ["unit_code", "focal_group", "index_name", "value", "ci_low", "ci_high"]
        upsert(con, "partner_indices", frame[columns].assign(source=source, ingest_id=ingest_id),
               ["source", "unit_code", "focal_group", "index_name"],
               values={"source": "source", "unit_code": "unit_code", "focal_group": "focal_group",
                       "index_name": "index_name", "value": "value", "ci_low": "ci_low", "ci_high": "ci_high",
                       "ingest_id": "ingest_id"})
    return Written(len(frame), result.quarantine, [], 0,
        f"{len(frame)} partner index values for {frame['unit_code'].nunique() if not frame.empty else 0} units")


READER = Reader(
    KIND, KINDS[KIND], read, write, tables=("partner_indices",), rank=3,
    csv=lambda header, _text, _options: looks_like_indices(header))
