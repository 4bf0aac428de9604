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
is kept as suppressed (``people`` NULL), never as zero. Title rows above the header and the
``End of table`` line are not data rows. The published figures are messy, and are taken as
they come:

- **A code and a name that disagree** (at 31 Dec 2022 many Section 98 rows carry Hull's code
  under other authorities' names) are checked against ONS's codes and names
  (:mod:`assetmap.vocab.local_authorities`): the row goes to the authority its name says when
  the name is unambiguous, and the repair is recorded (table ``repairs``); a row that cannot be
  placed is quarantined (``code_name_mismatch``).
- **Repeated rows** (the same date, authority and support type) are added up, and recorded; a
  date the file holds twice (more than half its figures repeat) keeps the first copy and
  quarantines the rest (``duplicate_quarter``).
- **Labels** are compared without case or spacing and stored in one spelling
  (:mod:`assetmap.vocab.asylum_support`).
- **Releases**: each figure records its release (the latest date in the file); a release
  replaces what an earlier or the same release said of an authority at a date, and a figure a
  later release already holds is kept (the older row is quarantined as ``superseded``).
- Rows whose LAD Code is not a local authority (the ``N/A - ...`` rows of support not allocated
  to an authority) are quarantined; their totals per support type and date are kept in
  ``dispersal_unallocated``, since a labelled one marks a series break. Rows whose count is
  missing or not a whole number, or whose date cannot be read, are quarantined with the reason.

Source: Home Office, Immigration system statistics, asylum and resettlement datasets
(Open Government Licence v3.0).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
import zipfile
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from assetmap.db.sql import scalar
from assetmap.sources._io import (
    FileRefused,
    ReadResult,
    csv_header,
    decode_text,
    level_of,
    maybe_gunzip,
    norm_key,
    quarantine_row,
    read_csv_records,
    sniff_delimiter,
)
from assetmap.sources.registry import Reader, Written
from assetmap.vocab import local_authorities
from assetmap.vocab.asylum_support import Spellings
from assetmap.vocab.file_kinds import KINDS

KIND = "dispersal"
_MONTHS = 12
#: Up to this many dates, a note lists them; beyond, it gives the first and the last.
_PERIODS_LISTED = 2

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
    """Whether a header (or document) is this reader's format."""
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
    """Return the header row among the first 50: the one naming an LA code and a count column."""
    for i, row in enumerate(cells[:50]):
        keys = {norm_key(c) for c in row}
        if keys & _LA_CODE and keys & _PEOPLE:
            return i
    return None


_END_LINE = re.compile(r'^[ \t"\']*end of table', re.IGNORECASE | re.MULTILINE)


_END_BYTES = re.compile(rb'^[ \t"\']*end of table', re.IGNORECASE | re.MULTILINE)


def strip_preamble(data: bytes) -> tuple[bytes, int]:
    """Drop title/note lines above the header row, and the ``End of table`` line with what follows it.

    Return the table and how many lines were dropped above it.
    """
    if b"end of table" not in data.lower() or _END_BYTES.search(data) is None:  # a table, nothing after it
        head_text = decode_text(data[:65536])[0]
        first = head_text.split("\n", 1)[0]
        if _header_index([first.replace(";", ",").replace("\t", ",").split(",")]) == 0:
            return data, 0
    text, _, _ = decode_text(data)
    head = text[:65536].splitlines(keepends=True)[:50]
    split = [line.replace(";", ",").replace("\t", ",").split(",") for line in head]
    i = _header_index(split)
    if i is None:
        return data, 0
    start = sum(len(line) for line in head[:i])
    end = _END_LINE.search(text, start + len(head[i]))
    return text[start:end.start() if end else len(text)].encode("utf-8"), i


def _cell(value: Any) -> str:
    """Return a spreadsheet cell as the text a CSV of the sheet would hold (dates as ISO dates)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, _dt.datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sheet_rows(data: bytes, path: Path, engine: str) -> tuple[list[list[str]], str]:
    """Return the rows of the workbook's data sheet, and the sheet's name."""
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


def _records(data: bytes, path: Path) -> tuple[list[str], pd.DataFrame, list[dict[str, Any]], int, dict[str, Any]]:
    """Return the header, the data rows as text, the rows quarantined, rows read and notes.

    Header, the data rows as text (with ``row_number``), rows already quarantined, rows read, and notes on the
    layout.
    """
    book = is_spreadsheet(data)
    if book:
        cells, sheet = _sheet_rows(data, path, book)
        i = _header_index(cells)
        if i is None:  # is_spreadsheet found a header, so this cannot happen
            msg = "no header row in the workbook"
            raise ValueError(msg)
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
        return list(dict.fromkeys(header)), _frame(header, rows), [], n, {"layout": book, "sheet": sheet,
                                                                          "preamble_lines": i}
    body, skipped = strip_preamble(maybe_gunzip(data, path))
    meta = {"layout": "csv", "preamble_lines": skipped}
    fast = _clean_csv(body)
    if fast is not None:
        return list(fast.columns[:-1]), fast, [], len(fast), meta
    rec = read_csv_records(body, path)
    return list(dict.fromkeys(rec.header)), _frame(rec.header, rec.rows), rec.quarantine, rec.rows_read, meta


def _frame(header: list[str], rows: list[tuple[int, dict[str, str]]]) -> pd.DataFrame:
    """Rows as a table of text; blank header cells (the sheet's empty columns) are one column."""
    df = pd.DataFrame([r for _, r in rows], columns=list(dict.fromkeys(header)), dtype=object).fillna("")
    df["row_number"] = [n for n, _ in rows]
    return df


def _clean_csv(body: bytes) -> pd.DataFrame | None:
    """Return the table read by Arrow's CSV parser when the file is clean, else None.

    Return the table read by Arrow's CSV parser when the file is clean in every way in which it and
    :func:`read_csv_records` could read it differently (UTF-8, commas, no blank lines, no line breaks inside
    quotes, every row as long as the header); else None (the row-by-row way).
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    body_text = text.rstrip("\n")
    if "\r" in body_text or "\n\n" in body_text or not body_text:
        return None
    header = next(csv.reader([body_text.split("\n", 1)[0]]))
    if sniff_delimiter(body_text.split("\n", 1)[0]) != "," or len(set(header)) != len(header):
        return None
    try:
        # Arrow's parser (both cores); a row of another length than the header is an error
        df = pd.read_csv(io.BytesIO(body_text.encode("utf-8")), dtype=str, keep_default_na=False,
                         on_bad_lines="error", engine="pyarrow")
    except (ValueError, pd.errors.ParserError, pa.ArrowInvalid):
        return None
    if len(df) != body_text.count("\n") or df.isna().any().any():
        return None
    df.columns = [str(h).strip() for h in df.columns]
    df["row_number"] = range(1, len(df) + 1)
    return df


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
        end = _dt.date(year + month // _MONTHS, month % _MONTHS + 1, 1)  # the day after the quarter
        return end - _dt.timedelta(days=1)
    return None


def _unallocated_label(code: str, name: str) -> str | None:
    """Return the publisher's label for support it did not allocate to an authority.

    Return the publisher's label for support it did not allocate to an authority (``N/A - Section 98 (pre-Dec
    2022)``), or None for a plain ``N/A`` row (not a series break).
    """
    for v in (code, name):
        if v.upper().startswith("N/A") and len(v.strip()) > len("N/A"):
            return v.strip()
    return None


def _columns(header: list[str], path: Path) -> tuple[str, ...]:
    """Return the columns an Asy_D11 table is read by, or refuse a table without them.

    The code, people, support, accommodation, date, name and region columns ("" for one of the
    last four not given; support or accommodation is needed).
    """
    code_col, people_col = _find(header, _LA_CODE), _find(header, _PEOPLE)
    support_col, accom_col = _find(header, _SUPPORT), _find(header, _ACCOM)
    date_col = _find(header, _DATE)
    if not (code_col and people_col and (support_col or accom_col) and date_col):
        raise FileRefused("missing_columns", f"{path.name}: an Asy_D11 table needs LAD Code, Support Type "
                                             "(or Accommodation Type / Support sub-type), Date and People "
                                             f"columns; found {', '.join(h[:40] for h in header[:12])}")
    return (code_col, people_col, support_col or "", accom_col or "", date_col, _find(header, _LA_NAME) or "",
            _find(header, _REGION) or "")


def _dates(column: pd.Series) -> pd.Series:
    """Return each cell of a date column as a date (NaT where it cannot be read).

    The few dozen distinct dates of a release are each parsed once.
    """
    wi, wu = pd.factorize(column)
    return pd.Series(np.array([np.datetime64(d, "s") if d else np.datetime64("NaT", "s")
                               for d in map(_date, wu)] + [np.datetime64("NaT", "s")])[wi], index=column.index)


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    header, df, quarantine, rows_read, meta = _records(data, path)
    code_col, people_col, support_col, accom_col, date_col, name_col, region_col = _columns(header, path)
    blank = pd.Series("", index=df.index, dtype=object)
    given_code = df[code_col].str.strip()
    code = given_code.str.upper()
    name = df[name_col].str.strip() if name_col else blank
    raw_n = df[people_col].str.strip().str.replace(",", "", regex=False).str.replace(" ", "", regex=False)
    suppressed = raw_n.str.lower().isin(SUPPRESSED)
    whole = raw_n.str.fullmatch(r"\d+")
    when = _dates(df[date_col])
    spell = Spellings()
    support = _map_pairs(df[support_col] if support_col else blank, df[accom_col] if accom_col else blank,
                         lambda sup, acc: _support(spell, sup, acc))
    is_la = code.map({c: level_of(c) == "la" for c in code.unique()}).astype(bool)

    bad_code = ~is_la
    bad_count = is_la & ~suppressed & ~whole
    bad_date = is_la & ~bad_count & when.isna()
    raws = df.loc[bad_code | bad_count | bad_date, header].to_dict("index")

    def _raw(i: Any) -> dict[str, str]:
        if i not in raws:
            raws[i] = df.loc[i, header].to_dict()
        return cast("dict[str, str]", raws[i])

    for i in df.index[bad_code]:
        rn = int(df.at[i, "row_number"])
        why = "support not allocated to a local authority" if code[i].startswith("N/A") \
            else f"{df.at[i, code_col][:40]!r} is not a local authority code"
        quarantine.append(quarantine_row(rn, _raw(i), "invalid_code", f"row {rn}: {why}"))
    unalloc = df.index[bad_code & when.notna() & (suppressed | whole)]
    labels = [(_unallocated_label(given_code[i], name[i]), i) for i in unalloc]
    meta["unallocated"] = _unallocated_frame([
        (support[i] or "all", when[i].date(), lab, None if suppressed[i] else int(raw_n[i]))
        for lab, i in labels if lab])
    for i in df.index[bad_count]:
        rn = int(df.at[i, "row_number"])
        quarantine.append(quarantine_row(rn, _raw(i), "invalid_count",
                                         f"row {rn}: People = {df.at[i, people_col][:20]!r} is not a whole "
                                         "number" + (" (missing)" if not raw_n[i] else "")))
    for i in df.index[bad_date]:
        rn = int(df.at[i, "row_number"])
        quarantine.append(quarantine_row(rn, _raw(i), "invalid_value",
                                         f"row {rn}: date {df.at[i, date_col][:30]!r} cannot be read"))
    ok = is_la & ~bad_count & ~bad_date
    region = (df[region_col].map({v: spell.of(v) for v in df[region_col].unique()}) if region_col else blank)
    frame = pd.DataFrame({
        "row_number": df["row_number"].astype(int), "la_code": code, "la_name": name.where(name != "", None),
        "region": region.where(region != "", None), "support_type": support.where(support != "", "all"),
        "period": when,
        "people": pd.to_numeric(raw_n.where(~suppressed), errors="coerce"), "suppressed": suppressed.astype(bool),
        "src": df.index}).loc[ok]
    stored_code, stored_name, repairs, mismatch = _check_codes(
        frame["la_code"], frame["la_name"].fillna(""), when[ok], frame["row_number"])
    for i, problem in mismatch.items():
        rn = int(df.at[i, "row_number"])
        quarantine.append(quarantine_row(rn, _raw(i), "code_name_mismatch", f"row {rn}: {problem}"))
    frame["la_code"] = stored_code
    frame["la_name"] = stored_name.where(stored_name != "", None)
    if mismatch:
        frame = frame.drop(index=list(mismatch))
    frame, extra = _add_up_repeats(frame, quarantine, repairs, _raw)
    quarantine.sort(key=lambda q: q["row_number"])
    frame["people"] = frame["people"].astype("Int64")
    meta.update(suppressed=int(frame["suppressed"].sum()), repairs=repairs, repeats=extra,
                release=frame["period"].max().date() if len(frame) else None)
    return ReadResult(KIND, frame.drop(columns=["src"]), quarantine, rows_read, meta)


def _pair_codes(a: pd.Series | np.ndarray, b: pd.Series) -> np.ndarray:
    """One integer per distinct pair of values (``a`` may already be such integers)."""
    ai = np.asarray(a) if isinstance(a, np.ndarray) else pd.factorize(a)[0]
    bi, bu = pd.factorize(b)
    return cast("np.ndarray", ai.astype("int64") * max(len(bu), 1) + bi)


def _map_pairs(a: pd.Series, b: pd.Series, fn: Any) -> pd.Series:
    """``fn(x, y)`` for each row's pair, called once per distinct pair."""
    key = _pair_codes(a, b)
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    av, bv = a.to_numpy(), b.to_numpy()
    values = np.array([fn(av[i], bv[i]) for i in first], dtype=object)
    del uniq
    return pd.Series(values[inverse], index=a.index)


def _support(spell: Spellings, support: str, accom: str) -> str:
    """``Section 95 / Dispersal Accommodation`` in one spelling; a ``N/A - …`` part is no label."""
    return " / ".join(spell.of(v) for v in (support, accom) if v.strip() and not v.strip().upper().startswith("N/A"))


def _check_codes(code: pd.Series, name: pd.Series, when: pd.Series, row_number: pd.Series
                 ) -> tuple[pd.Series, pd.Series, list[dict[str, Any]], dict[Any, str]]:
    """Each row's code checked against its name (:func:`assetmap.vocab.local_authorities.check`).

    The codes and names to store, the repairs made, and the rows that cannot be placed (index -> why). A name
    that is no authority's (a typing slip) becomes the code's own.
    """
    known = local_authorities.authorities()
    ok = _map_pairs(code, name, lambda c, n: not n or c not in known or local_authorities.is_named(c, n)
                    ).astype(bool)
    out = code.copy()
    renamed = name.copy()
    repairs: list[dict[str, Any]] = []
    mismatch: dict[Any, str] = {}
    for i in code.index[~ok]:
        checked = local_authorities.check(code[i], name[i], when[i].date())
        if checked.problem:
            mismatch[i] = checked.problem
            continue
        out[i] = checked.code
        if checked.name:  # a typing slip: the code's own name
            renamed[i] = checked.name
        repairs.append({"row_number": int(row_number[i]), "field": "la_code",
                        "given": f"{code[i]} {name[i]}"[:200], "stored": checked.code, "reason": checked.repaired})
    return out, renamed, repairs, mismatch


_KEY = ["la_code", "support_type", "period"]


def _add_up_repeats(frame: pd.DataFrame, quarantine: list[dict[str, Any]], repairs: list[dict[str, Any]],
                    raw: Any) -> tuple[pd.DataFrame, dict[int, list[int]]]:
    """One row per authority, support type and date, and ``{first row: [rows added into it]}``.

    Rows that share date, authority and support type are added up (the publisher splits a figure,
    or a repaired code joins the authority's own row), and each sum is recorded as a repair. A
    date at which more than half of the keys (and at least two) repeat is a quarter the file holds
    twice (the same release pasted twice, or two releases in one file): the first copy is kept and
    the others are quarantined as ``duplicate_quarter``, never added.
    """
    frame["rows"] = 1
    key = _pair_codes(_pair_codes(frame["la_code"], frame["support_type"]), frame["period"])
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if (counts == 1).all():
        return frame, {}
    dup = pd.Series(np.isin(key, np.unique(key)[counts > 1]), index=frame.index)
    distinct = frame.iloc[first].groupby("period").size()
    repeated = frame[dup].drop_duplicates(_KEY).groupby("period").size()
    doubled = {p for p, n in repeated.items() if n > 1 and 2 * n > distinct[p]}
    if doubled:
        extra = frame["period"].isin(doubled) & frame.duplicated(_KEY, keep="first")
        for r in frame[extra].itertuples():
            quarantine.append(quarantine_row(
                int(r.row_number), raw(r.src), "duplicate_quarter",
                f"row {r.row_number}: the file holds {r.period:%d %b %Y} more than once "
                f"({repeated[r.period]} of {distinct[r.period]} authority figures repeat); the first copy is "
                "kept. Load each release as its own file: a later release replaces an earlier one's figures"))
        frame = frame[~extra]
        dup = frame.duplicated(_KEY, keep=False)
    single, multi = frame[~dup], frame[dup]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for rec in multi.to_dict("records"):  # few rows: plain Python is quicker than a groupby here
        groups.setdefault((rec["la_code"], rec["support_type"], rec["period"]), []).append(rec)
    merged: dict[int, list[int]] = {}
    summed = []
    for (la, support, when), recs in groups.items():
        parts = [r["people"] for r in recs]
        missing = [pd.isna(v) for v in parts]
        all_suppressed = all(r["suppressed"] for r in recs)
        total = None if all_suppressed else int(sum(v for v, m in zip(parts, missing, strict=True) if not m))
        rows = [int(r["row_number"]) for r in recs]
        merged[rows[0]] = rows
        summed.append({**recs[0], "people": total, "suppressed": all_suppressed, "rows": len(rows)})
        given = "; ".join("suppressed" if m else str(int(v)) for v, m in zip(parts, missing, strict=True))
        repairs.append({"row_number": rows[0], "field": "people", "given": given,
                        "stored": "suppressed" if total is None else str(total),
                        "reason": f"rows {', '.join(map(str, rows))} repeat {when:%d %b %Y}, {la}, {support}: "
                                  "added up" + (" (a suppressed part adds nothing)"
                                                if any(missing) and not all_suppressed else "")})
    return pd.concat([single, pd.DataFrame(summed, columns=frame.columns)], ignore_index=True), merged


def _unallocated_frame(rows: list[tuple[str, _dt.date, str, int | None]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["support_type", "period", "label", "people"])
    if df.empty:
        return df
    return df.groupby(["support_type", "period", "label"], as_index=False)["people"].sum(min_count=1)


def _superseded(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, release: _dt.date | None) -> pd.Series:
    """Rows whose authority and date a later release already stored: that release's figures stay."""
    if frame.empty or release is None:
        return pd.Series(False, index=frame.index)
    newer = con.execute("SELECT DISTINCT la_code, period FROM dispersal WHERE release > ?", [release]).fetchall()
    if not newer:
        return pd.Series(False, index=frame.index)
    held = pd.MultiIndex.from_arrays([[c for c, _ in newer], pd.to_datetime([p for _, p in newer])])
    return pd.Series(pd.MultiIndex.from_arrays([frame["la_code"], frame["period"]]).isin(held), index=frame.index)


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    release = result.meta.get("release")
    quarantine = list(result.quarantine)
    old = _superseded(con, frame, release)
    merged = result.meta.get("repeats", {})
    for r in frame[old].itertuples():
        for rn in merged.get(int(r.row_number), [r.row_number]):
            quarantine.append(quarantine_row(
                int(rn), {"la_code": r.la_code, "support_type": r.support_type, "period": str(r.period)},
                "superseded", f"row {rn}: a later release (to {release:%d %b %Y} or after) already holds "
                              f"{r.la_code}'s figures for {r.period:%d %b %Y}; they are kept"))
    frame = frame[~old]
    held = bool(scalar(con, "SELECT count(*) FROM (SELECT 1 FROM dispersal LIMIT 1)"))
    if held:  # the spellings the store holds already (a first load has its own, from the vocabulary)
        frame = _one_spelling(con, frame)
    if not frame.empty:
        con.register("_d", frame[["la_code", "la_name", "region", "support_type", "period", "people", "suppressed"]])
        try:
            # a release replaces what an earlier (or the same) release said of an authority and date
            if held:
                con.execute("""DELETE FROM dispersal
                               WHERE (la_code, period) IN (SELECT DISTINCT la_code, period FROM _d)
                                 AND (release IS NULL OR release <= ?)""", [release])
            con.execute(
                """INSERT INTO dispersal (la_code, la_name, region, support_type, period, people, suppressed,
                                          source, ingest_id, release)
                   SELECT la_code, la_name, region, support_type, period, people, suppressed, ?, ?, ? FROM _d""",
                [source, ingest_id, release],
            )
        finally:
            con.unregister("_d")
    _write_unallocated(con, result.meta.get("unallocated"), release, source, ingest_id)
    repairs = list(result.meta.get("repairs", []))
    if repairs:
        con.register("_r", pd.DataFrame(repairs, columns=["row_number", "field", "given", "stored", "reason"]))
        try:
            con.execute("INSERT INTO repairs (ingest_id, row_number, field, given, stored, reason) "
                        "SELECT ?, row_number, field, given, stored, reason FROM _r", [ingest_id])
        finally:
            con.unregister("_r")
    accepted = int(frame["rows"].sum()) if not frame.empty else 0
    periods = [str(p.date()) for p in sorted(frame["period"].unique())] if not frame.empty else []
    n_sup = int(frame["suppressed"].sum()) if not frame.empty else 0
    n_code = sum(x["field"] == "la_code" for x in repairs)
    n_sum = sum(x["field"] == "people" for x in repairs)
    notes = [f"{frame['la_code'].nunique() if not frame.empty else 0} local authorities, "
             + (f"{periods[0]} to {periods[-1]} ({len(periods)} dates)" if len(periods) > _PERIODS_LISTED
                else f"periods {', '.join(periods) or 'none'}")]
    if n_sup:
        notes.append(f"{n_sup} suppressed counts kept as suppressed")
    if n_code:
        notes.append(f"{n_code} codes repaired by the authority's name")
    if n_sum:
        notes.append(f"{n_sum} repeated figures added up")
    return Written(accepted, quarantine, [], 0, "; ".join(notes) + (" (see Data and provenance: repairs)"
                                                                   if repairs else ""))


def _one_spelling(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """Support types and regions in the spelling the store already holds for them."""
    if frame.empty:
        return frame
    seen = [r[0] for r in con.execute(
        "SELECT DISTINCT support_type FROM dispersal UNION ALL SELECT DISTINCT region FROM dispersal "
        "WHERE region IS NOT NULL").fetchall()]
    spell = Spellings(seen)
    frame = frame.copy()
    frame["support_type"] = frame["support_type"].map(
        {s: " / ".join(spell.of(p) for p in s.split(" / ")) for s in frame["support_type"].unique()})
    frame["region"] = frame["region"].map({r: spell.of(r) for r in frame["region"].dropna().unique()})
    return frame


def _write_unallocated(con: duckdb.DuckDBPyConnection, df: pd.DataFrame | None, release: _dt.date | None,
                       source: str, ingest_id: int) -> None:
    if df is None or df.empty:
        return
    con.register("_u", df)
    try:
        if scalar(con, "SELECT count(*) FROM (SELECT 1 FROM dispersal_unallocated LIMIT 1)"):
            con.execute("""DELETE FROM dispersal_unallocated WHERE period IN (SELECT DISTINCT period FROM _u)
                           AND (release IS NULL OR release <= ?)""", [release])
        con.execute("""INSERT INTO dispersal_unallocated (support_type, period, label, people, release, source,
                                                          ingest_id)
                       SELECT support_type, period, label, people, ?, ?, ? FROM _u
                       WHERE period NOT IN (SELECT period FROM dispersal_unallocated)""",
                    [release, source, ingest_id])
    finally:
        con.unregister("_u")


def _is_dispersal_csv(_header: list[str], text: bytes, _options: dict[str, Any]) -> bool:
    return looks_like_dispersal(csv_header(strip_preamble(text[:65536])[0]))


READER = Reader(
    KIND, KINDS[KIND],
    read, write, tables=("dispersal", "dispersal_unallocated"), rank=3,
    binary=lambda data, _path: bool(is_spreadsheet(data)), csv=_is_dispersal_csv)
