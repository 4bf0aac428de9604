"""Home Office Asy_D11: asylum seekers in receipt of support, by local authority.

Read as the Home Office publishes it: the workbook itself (XLSX or ODS; the data sheet found by
its name, ``Data - Asy_D11`` or ``Data_Asy_D11``, or else by its header row) or the data sheet
saved as CSV. The published data sheet has a title row, then::

    Date (as at…), Support Type, UK Region / Nation, Local Authority, LAD Code,
    Accommodation Type, People

(``Date (as at...)`` on some sheets; older releases have ``Support sub-type`` and plain
``Date``/``UK Region`` columns, and some add ``Year`` and ``Quarter``), and ends with an
``End of table`` line. Dates come as ``30 Sep 2025``, ``30 September 2025``, ``30/09/2025``,
ISO dates, spreadsheet dates or ``2025 Q3``; counts may carry thousands separators.

Every data row is accounted for: kept per local authority, support type (with the
accommodation type or support sub-type, when given) and date, with its UK region or nation;
a suppressed count (``..``, ``z``, ``x``, ``c``, ``*``, ``[c]``, ``[x]``, ``[z]``, ``[low]``)
is kept as suppressed (``people`` NULL), never as zero. Rows whose LAD Code is not a local
authority (the published ``N/A - ...`` rows of support not allocated to an authority), whose
count is missing or not a whole number, whose date cannot be read, or that repeat an earlier
row, are quarantined with the reason. Title rows above the header and the ``End of table``
line are not data rows.

Source: Home Office, Immigration system statistics, asylum and resettlement datasets
(Open Government Licence v3.0).
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    csv_header,
    decode_text,
    drop_repeats,
    level_of,
    maybe_gunzip,
    norm_key,
    quarantine_row,
    read_csv_records,
)
from assetmap.sources.registry import Reader, Written

KIND = "dispersal"

_LA_CODE = {"ladcode", "lacode", "localauthoritycode", "ladcd", "lad22cd", "lad23cd", "lad21cd", "ltla22cd"}
_LA_NAME = {"localauthority", "localauthorityname", "ladname", "lad22nm", "lad23nm"}
_SUPPORT = {"supporttype", "support"}
_ACCOM = {"accommodationtype", "accommodation", "supportsubtype", "subtype"}
_PEOPLE = {"people", "numberofpeople", "count", "asylumseekers", "value"}
_DATE = {"date", "dateasat", "quarterend", "period", "asat"}
_REGION = {"ukregionnation", "ukregion", "region", "regionnation", "ukregionornation", "nation"}
#: How the published tables mark a cell that is not given: kept as suppressed, never as zero.
SUPPRESSED = {"..", ".", "z", "x", "c", "*", "[c]", "[x]", "[z]", "[low]", "low", "[u]", "u", "-"}
#: The data sheet's names in the published workbooks.
SHEET_NAMES = {"dataasyd11"}
_END = "endoftable"


def _find(header: list[str], keys: set[str]) -> str | None:
    return next((h for h in header if norm_key(h) in keys), None)


def looks_like_dispersal(header: list[str]) -> bool:
    return bool(_find(header, _LA_CODE) and _find(header, _PEOPLE) and
                (_find(header, _SUPPORT) or _find(header, _ACCOM)))


def is_spreadsheet(data: bytes) -> str | None:
    """``xlsx`` or ``ods`` for a spreadsheet workbook (a zip of a known layout), else None."""
    if data[:4] != b"PK\x03\x04":
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "xl/workbook.xml" in names:
                return "xlsx"
            if "mimetype" in names and z.read("mimetype").startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
                return "ods"
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    return None


def _header_index(cells: list[list[str]]) -> int | None:
    """The header row among the first 50: the one naming an LA code and a count column."""
    for i, row in enumerate(cells[:50]):
        keys = {norm_key(c) for c in row}
        if keys & _LA_CODE and keys & _PEOPLE:
            return i
    return None


def strip_preamble(data: bytes) -> tuple[bytes, int]:
    """Drop title/note lines above the header row, and the ``End of table`` line with what
    follows it; return the table and how many lines were dropped above it."""
    text, _, _ = decode_text(data)
    lines = text.splitlines(keepends=True)
    split = [line.replace(";", ",").replace("\t", ",").split(",") for line in lines[:50]]
    i = _header_index(split)
    if i is None:
        return data, 0
    end = next((j for j in range(i + 1, len(lines))
                if norm_key(lines[j].replace(";", ",").replace("\t", ",").split(",")[0]) == _END), len(lines))
    return "".join(lines[i:end]).encode("utf-8"), i


def _cell(value: Any) -> str:
    """A spreadsheet cell as the text a CSV of the sheet would hold (dates as ISO dates)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, _dt.datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sheet_rows(data: bytes, path: Path, engine: str) -> tuple[list[list[str]], str]:
    """The rows of the workbook's data sheet, and the sheet's name."""
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=object,
                               engine="openpyxl" if engine == "xlsx" else "odf")
    except Exception as exc:  # the spreadsheet libraries raise many kinds of error for damaged files
        raise FileRefused("unreadable", f"{path.name}: a damaged {engine.upper()} workbook "
                                        f"({type(exc).__name__})") from None
    named = [n for n in sheets if norm_key(n) in SHEET_NAMES]
    for name in named + [n for n in sheets if n not in named]:
        rows = [[_cell(v) for v in r] for r in sheets[name].itertuples(index=False)]
        if _header_index(rows) is not None:
            return rows, str(name)
    raise FileRefused("missing_columns", f"{path.name}: a workbook, but no sheet holds the Asy_D11 table "
                                         f"(sheets: {', '.join(str(n)[:40] for n in list(sheets)[:12])}); "
                                         "assetmap reads the 'Data - Asy_D11' sheet of the Home Office "
                                         "workbook")


def _records(data: bytes, path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[dict[str, Any]],
                                               int, dict[str, Any]]:
    """Header, numbered data rows, rows already quarantined, rows read, and notes on the layout."""
    book = is_spreadsheet(data)
    if book:
        cells, sheet = _sheet_rows(data, path, book)
        i = _header_index(cells)
        if i is None:  # is_spreadsheet found a header, so this cannot happen
            raise ValueError("no header row in the workbook")
        header = list(cells[i])
        while header and not header[-1]:  # the published sheets carry empty columns at the right
            header.pop()
        rows: list[tuple[int, dict[str, str]]] = []
        n = 0
        for r in cells[i + 1:]:
            if not any(r):
                continue
            if norm_key(r[0]) == _END:
                break
            n += 1
            rows.append((n, dict(zip(header, r[:len(header)] + [""] * (len(header) - len(r)), strict=False))))
        return header, rows, [], n, {"layout": book, "sheet": sheet, "preamble_lines": i}
    body, skipped = strip_preamble(maybe_gunzip(data, path))
    rec = read_csv_records(body, path)
    return rec.header, rec.rows, rec.quarantine, rec.rows_read, {"layout": "csv", "preamble_lines": skipped}


_QUARTER = re.compile(r"^(?:(\d{4})\s*-?\s*Q([1-4])|Q([1-4])\s*-?\s*(\d{4}))$")


def _date(value: str) -> _dt.date | None:
    v = value.strip().replace("Sept ", "Sep ")
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d %B %Y", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %y",
                "%Y-%m-%d %H:%M:%S", "%d/%m/%y"):
        try:
            return _dt.datetime.strptime(v, fmt).date()
        except ValueError:
            continue
    m = _QUARTER.match(v.upper())
    if m:  # a quarter: its last day
        year, q = (int(m.group(1)), int(m.group(2))) if m.group(1) else (int(m.group(4)), int(m.group(3)))
        month = q * 3
        end = _dt.date(year + (month == 12), 1 if month == 12 else month + 1, 1)
        return end - _dt.timedelta(days=1)
    return None


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    path = Path(path)
    header, rows, quarantine, rows_read, meta = _records(data, path)
    code_col, people_col = _find(header, _LA_CODE), _find(header, _PEOPLE)
    support_col, accom_col = _find(header, _SUPPORT), _find(header, _ACCOM)
    date_col, name_col = _find(header, _DATE), _find(header, _LA_NAME)
    region_col = _find(header, _REGION)
    if not (code_col and people_col and (support_col or accom_col) and date_col):
        raise FileRefused("missing_columns", f"{path.name}: an Asy_D11 table needs LAD Code, Support Type "
                                             "(or Accommodation Type / Support sub-type), Date and People "
                                             f"columns; found {', '.join(h[:40] for h in header[:12])}")
    out = []
    for rn, row in rows:
        code = row[code_col].strip().upper()
        if level_of(code) != "la":
            why = "support not allocated to a local authority" if code.startswith("N/A") \
                else f"{row[code_col][:40]!r} is not a local authority code"
            quarantine.append(quarantine_row(rn, row, "invalid_code", f"row {rn}: {why}"))
            continue
        raw_n = row[people_col].strip().replace(",", "").replace(" ", "")
        suppressed = raw_n.lower() in SUPPRESSED
        if not suppressed and not raw_n.isdigit():
            quarantine.append(quarantine_row(rn, row, "invalid_count",
                                             f"row {rn}: People = {row[people_col][:20]!r} is not a whole "
                                             "number" + (" (missing)" if not raw_n else "")))
            continue
        when = _date(row[date_col])
        if when is None:
            quarantine.append(quarantine_row(rn, row, "invalid_value",
                                             f"row {rn}: date {row[date_col][:30]!r} cannot be read"))
            continue
        support = " / ".join(v for v in (row.get(support_col, "").strip() if support_col else "",
                                         row.get(accom_col, "").strip() if accom_col else "") if v)
        out.append((rn, code, row[name_col].strip() if name_col else None,
                    (row.get(region_col) or "").strip() or None if region_col else None,
                    support or "all", when, None if suppressed else int(raw_n), suppressed))
    frame = pd.DataFrame(out, columns=["row_number", "la_code", "la_name", "region", "support_type", "period",
                                       "people", "suppressed"])
    frame["people"] = frame["people"].astype("Int64")
    frame = drop_repeats(frame, ["la_code", "support_type", "period"], rows, quarantine,
                         "the same authority, support type and date")
    meta["suppressed"] = int(frame["suppressed"].sum())
    return ReadResult(KIND, frame, quarantine, rows_read, meta)


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    frame = result.frame
    if not frame.empty:
        con.register("_d", frame[["la_code", "la_name", "region", "support_type", "period", "people", "suppressed"]])
        try:
            con.execute(
                """INSERT INTO dispersal (la_code, la_name, region, support_type, period, people, suppressed,
                                          source, ingest_id)
                   SELECT la_code, la_name, region, support_type, period, people, suppressed, ?, ? FROM _d
                   ON CONFLICT (la_code, support_type, period) DO UPDATE
                   SET la_name = excluded.la_name, region = excluded.region, people = excluded.people,
                       suppressed = excluded.suppressed, source = excluded.source,
                       ingest_id = excluded.ingest_id""",
                [source, ingest_id],
            )
        finally:
            con.unregister("_d")
    periods = sorted({str(p) for p in frame["period"]}) if not frame.empty else []
    n_sup = int(frame["suppressed"].sum()) if not frame.empty else 0
    return Written(len(frame), result.quarantine, [], 0,
        f"{frame['la_code'].nunique() if not frame.empty else 0} local authorities, "
        f"periods {', '.join(periods) or 'none'}" + (f"; {n_sup} suppressed counts kept as suppressed"
                                                     if n_sup else ""))


def _is_dispersal_csv(_header: list[str], text: bytes, _options: dict[str, Any]) -> bool:
    return looks_like_dispersal(csv_header(strip_preamble(text[:65536])[0]))


READER = Reader(
    KIND, "Home Office Asy_D11, supported asylum seekers by LA: the workbook (XLSX, ODS) or its data sheet",
    read, write, tables=("dispersal",), rank=3,
    binary=lambda data, _path: bool(is_spreadsheet(data)), csv=_is_dispersal_csv)
