"""Home Office Asy_D11: asylum seekers in receipt of support, by local authority.

The layout of the "Data - Asy_D11" sheet, saved as CSV: ``Date, Year, Quarter, Support Type,
UK Region, Local Authority, LAD Code, Accommodation Type, People``. Title and note lines above
the header (as in the published workbook) are skipped. Rows are kept per local authority,
support type (with the accommodation type, when given) and date; ``People`` may carry
thousands separators. Rows whose LA code is not a GSS local-authority code, whose count is not
a whole number (``..`` or ``z`` where suppressed), or whose date cannot be read are quarantined.

Source: Home Office, Immigration system statistics, asylum and resettlement datasets
(Open Government Licence v3.0).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import pandas as pd

from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    decode_text,
    level_of,
    maybe_gunzip,
    norm_key,
    quarantine_row,
    read_csv_records,
)

KIND = "dispersal"

_LA_CODE = {"ladcode", "lacode", "localauthoritycode", "ladcd", "lad22cd", "lad23cd", "lad21cd", "ltla22cd"}
_LA_NAME = {"localauthority", "localauthorityname", "ladname", "lad22nm", "lad23nm"}
_SUPPORT = {"supporttype", "support"}
_ACCOM = {"accommodationtype", "accommodation"}
_PEOPLE = {"people", "numberofpeople", "count", "asylumseekers", "value"}
_DATE = {"date", "quarterend", "period", "asat"}


def _find(header: list[str], keys: set[str]) -> str | None:
    return next((h for h in header if norm_key(h) in keys), None)


def looks_like_dispersal(header: list[str]) -> bool:
    return bool(_find(header, _LA_CODE) and _find(header, _PEOPLE) and
                (_find(header, _SUPPORT) or _find(header, _ACCOM)))


def strip_preamble(data: bytes) -> tuple[bytes, int]:
    """Drop title/note lines above the header row; return the rest and how many were dropped."""
    text, _, _ = decode_text(data)
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines[:50]):
        cells = [norm_key(c) for c in line.replace(";", ",").replace("\t", ",").split(",")]
        if any(c in _LA_CODE for c in cells) and any(c in _PEOPLE for c in cells):
            return "".join(lines[i:]).encode("utf-8"), i
    return data, 0


def _date(value: str) -> _dt.date | None:
    v = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d %B %Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return _dt.datetime.strptime(v, fmt).date()
        except ValueError:
            continue
    # "2023 Q1" style: the quarter's last day
    parts = v.upper().replace("-", " ").split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1] in ("Q1", "Q2", "Q3", "Q4"):
        month = int(parts[1][1]) * 3
        end = _dt.date(int(parts[0]) + (month == 12), 1 if month == 12 else month + 1, 1)
        return end - _dt.timedelta(days=1)
    return None


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    path = Path(path)
    body, skipped = strip_preamble(maybe_gunzip(data, path))
    rec = read_csv_records(body, path)
    code_col, people_col = _find(rec.header, _LA_CODE), _find(rec.header, _PEOPLE)
    support_col, accom_col = _find(rec.header, _SUPPORT), _find(rec.header, _ACCOM)
    date_col, name_col = _find(rec.header, _DATE), _find(rec.header, _LA_NAME)
    if not (code_col and people_col and (support_col or accom_col) and date_col):
        raise FileRefused("missing_columns", f"{path}: an Asy_D11 table needs LAD Code, Support Type "
                                             "(or Accommodation Type), Date and People columns; found "
                                             f"{', '.join(rec.header)}")
    quarantine = list(rec.quarantine)
    out = []
    for rn, row in rec.rows:
        code = row[code_col].strip().upper()
        if level_of(code) != "la":
            quarantine.append(quarantine_row(rn, row, "invalid_code",
                                             f"row {rn}: {row[code_col]!r} is not a local authority code"))
            continue
        raw_n = row[people_col].strip().replace(",", "")
        if not raw_n.isdigit():
            quarantine.append(quarantine_row(rn, row, "invalid_count",
                                             f"row {rn}: People = {row[people_col]!r} is not a whole number"
                                             " (suppressed or missing)"))
            continue
        when = _date(row[date_col])
        if when is None:
            quarantine.append(quarantine_row(rn, row, "invalid_value",
                                             f"row {rn}: date {row[date_col]!r} cannot be read"))
            continue
        support = " / ".join(v for v in (row.get(support_col, "").strip() if support_col else "",
                                         row.get(accom_col, "").strip() if accom_col else "") if v)
        out.append((rn, code, row[name_col].strip() if name_col else None, support or "all", when, int(raw_n)))
    frame = pd.DataFrame(out, columns=["row_number", "la_code", "la_name", "support_type", "period", "people"])
    dup = frame.duplicated(["la_code", "support_type", "period"], keep="first")
    raw_by_row = dict(rec.rows)
    for rn in frame.loc[dup, "row_number"]:
        quarantine.append(quarantine_row(int(rn), raw_by_row[int(rn)], "duplicate_area",
                                         f"row {rn}: the same authority, support type and date earlier in the file"))
    frame = frame[~dup]
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {"preamble_lines": skipped})
