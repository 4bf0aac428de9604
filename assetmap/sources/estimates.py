"""ONS mid-year population estimates: residents per area, the denominator of per-10,000 figures.

The tables as ONS publishes them, saved as CSV: ``Code, Name, Geography, All ages, 0, 1, ...``
(MYE2 and MYE5), under a title line such as ``Mid-2022 population estimates ...``; or a plain
``code, year, population`` table. The year comes from a ``year`` column, a column named
``Mid-2022`` or ``population_2022``, the title, ``--vintage``, or the file's name, in that order.
Rows whose code is not a GSS code, or whose count is not a whole number, are quarantined.

Source: Office for National Statistics, population estimates (Open Government Licence v3.0).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from assetmap.db.sql import upsert
from assetmap.sources._io import (
    GSS_RE,
    FileRefused,
    ReadResult,
    csv_header,
    decode_text,
    drop_repeats,
    maybe_gunzip,
    norm_key,
    quarantine_row,
    read_csv_records,
)
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS

KIND = "estimates"

_CODE = {"code", "areacode", "geographycode", "ladcode", "ladcd", "lad21cd", "lad22cd", "lad23cd", "lad24cd"}
_NAME = {"name", "areaname", "geographyname", "ladname", "laname"}
_YEAR_COL = {"year", "mid", "midyear"}
_TOTAL = re.compile(r"^(allages|population|residents|total|(mid|population|pop|estimate)?(19|20)\d\d)$")
_YEAR = re.compile(r"(?:mid|population|pop|estimate)[-_ ]?((?:19|20)\d\d)", re.IGNORECASE)


def _find(header: list[str], keys: set[str]) -> str | None:
    return next((h for h in header if norm_key(h) in keys), None)


def _total(header: list[str]) -> str | None:
    return next((h for h in header if _TOTAL.match(norm_key(h))), None)


def looks_like_estimates(header: list[str]) -> bool:
    """Return a code column and an all-ages total: ``All ages``, ``Mid-2022``, ``population_2022``..."""
    return bool(_find(header, _CODE) and _total(header)
                and any(norm_key(h) in ("allages", "year") or _YEAR.search(h) for h in header))


def strip_title(text: str) -> tuple[str, str]:
    """Return the table from its header row on, and the title lines above it."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines[:20]):
        cells = [c.strip() for c in line.split(",")]
        if looks_like_estimates(cells):
            return "".join(lines[i:]), "".join(lines[:i])
    return text, ""


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    text, _, _ = decode_text(maybe_gunzip(data, path))
    table, title = strip_title(text)
    rec = read_csv_records(table.encode("utf-8"), path)
    code_col, name_col = _find(rec.header, _CODE), _find(rec.header, _NAME)
    total_col, year_col = _total(rec.header), _find(rec.header, _YEAR_COL)
    if not (code_col and total_col):
        raise FileRefused("missing_columns", f"{path.name}: a population estimate needs an area code column "
                                             "(Code) and an all-ages total (All ages, Mid-2022, population)")
    fixed = None
    for text_ in (total_col, title, str(options.get("vintage") or ""), path.name):
        m = _YEAR.search(text_) or re.search(r"((?:19|20)\d\d)", text_ or "")
        if m:
            fixed = int(m.group(1))
            break
    quarantine = list(rec.quarantine)
    out = []
    for rn, row in rec.rows:
        code = row[code_col].strip().upper()
        if not GSS_RE.match(code):
            quarantine.append(quarantine_row(rn, row, "invalid_code",
                                             f"row {rn}: {row[code_col][:40]!r} is not a GSS area code"))
            continue
        raw = row[total_col].strip().replace(",", "")
        year_raw = row[year_col].strip() if year_col else ""
        year = int(year_raw) if year_raw.isdigit() else fixed
        if not raw.isdigit():
            quarantine.append(quarantine_row(rn, row, "invalid_count",
                                             f"row {rn}: {total_col} = {row[total_col][:20]!r} is not a whole number"))
            continue
        if year is None:
            quarantine.append(quarantine_row(rn, row, "invalid_value",
                                             f"row {rn}: no year (give --vintage YEAR)"))
            continue
        out.append((rn, code, row[name_col].strip() if name_col else None, year, int(raw)))
    frame = pd.DataFrame(out, columns=["row_number", "area_code", "area_name", "year", "residents"])
    frame = drop_repeats(frame, ["area_code", "year"], rec.rows, quarantine, "the same area and year")
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {"year": fixed})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    if not frame.empty:
        columns = ["area_code", "area_name", "year", "residents"]
        upsert(con, "population_estimates", frame[columns].assign(source=source, ingest_id=ingest_id),
               ["area_code", "year"], values={"area_code": "area_code", "area_name": "area_name", "year": "year",
                                              "residents": "residents", "source": "source",
                                              "ingest_id": "ingest_id"})
    years = sorted({int(y) for y in frame["year"]}) if not frame.empty else []
    return Written(len(frame), result.quarantine, [], 0,
        f"population estimates for {frame['area_code'].nunique() if not frame.empty else 0} areas "
        f"({', '.join(map(str, years)) or 'no year'})")


def _is_estimates_csv(header: list[str], text: bytes, _options: dict[str, Any]) -> bool:
    if looks_like_estimates(header):
        return True
    return looks_like_estimates(csv_header(strip_title(decode_text(text[:65536])[0])[0].encode("utf-8")))


READER = Reader(
    KIND, KINDS[KIND], read, write, tables=("population_estimates",), rank=3,
    csv=_is_estimates_csv)
