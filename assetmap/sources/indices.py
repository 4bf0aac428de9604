"""Ward-level segregation indices published by a partner (a university, a council's research team).

A CSV with columns ``ward_code, focal_group, index_name, value`` and optionally ``ci_low,
ci_high``. ``index_name`` must be one assetmap computes (see :mod:`assetmap.segregation`);
``ward_code`` may be any unit code (ward, MSOA, LA). Kept as a source of its own
(``partner_indices``, keyed by source), never mixed with the computed values; ``assetmap
indices --compare`` reports where the two disagree.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    drop_repeats,
    level_of,
    norm_key,
    quarantine_row,
    read_csv_records,
)
from assetmap.vocab import INDEX_NAMES

KIND = "indices"
_REQUIRED = ("wardcode", "focalgroup", "indexname", "value")


def looks_like_indices(header: list[str]) -> bool:
    keys = {norm_key(h) for h in header}
    return all(k in keys for k in _REQUIRED)


def _num(v: str) -> float | None:
    try:
        x = float(v.strip())
    except (ValueError, AttributeError):
        return None
    return x if math.isfinite(x) else None


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    path = Path(path)
    rec = read_csv_records(data, path)
    col = {norm_key(h): h for h in rec.header}
    if not all(k in col for k in _REQUIRED):
        raise FileRefused("missing_columns", f"{path}: partner indices need columns ward_code, "
                                             "focal_group, index_name, value [, ci_low, ci_high]")
    quarantine = list(rec.quarantine)
    out = []
    for rn, row in rec.rows:
        code = row[col["wardcode"]].strip()
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
    frame = pd.DataFrame(out, columns=["row_number", "ward_code", "focal_group", "index_name", "value",
                                       "ci_low", "ci_high"])
    frame = drop_repeats(frame, ["ward_code", "focal_group", "index_name"], rec.rows, quarantine,
                         "the same unit, group and index")
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {})
