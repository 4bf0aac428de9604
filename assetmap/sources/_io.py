"""Shared reading helpers: bytes, encodings, CSV records, the read result and file refusal."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPLACEMENT = "\ufffd"


class FileRefused(Exception):
    """The whole file cannot be taken; nothing of it is stored.

    Attributes
    ----------
    reason_code
        A stable code (``empty_file``, ``unreadable``, ``missing_columns``...).
    """

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass
class ReadResult:
    """What a reader gives back: the rows it could read, and the rows it already refused.

    ``rows_read`` counts every data row the file holds, so that
    ``rows_read == len(frame) + len(quarantine)`` when the reader returns.
    """

    kind: str
    frame: pd.DataFrame
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    rows_read: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    lookup: pd.DataFrame | None = None


def quarantine_row(row_number: int, raw: Any, reason_code: str, message: str) -> dict[str, Any]:
    """A quarantine record; ``raw`` is kept as JSON text so that nothing is lost."""
    if not isinstance(raw, str):
        raw = json.dumps(raw, default=str, ensure_ascii=False)
    return {"row_number": int(row_number), "raw": raw, "reason_code": reason_code, "message": message}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: str | Path) -> bytes:
    """Read a file whole, refusing missing, unreadable and empty files clearly."""
    p = Path(path)
    if not p.exists():
        raise FileRefused("file_not_found", f"{p}: no such file")
    if p.is_dir():
        raise FileRefused("unreadable", f"{p} is a folder, not a file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise FileRefused("unreadable", f"{p}: cannot be read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise FileRefused("empty_file", f"{p} is empty")
    return data


def maybe_gunzip(data: bytes, path: str | Path) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FileRefused("unreadable", f"{path}: damaged gzip file ({exc})") from exc
    return data


def decode_text(data: bytes) -> tuple[str, str, set[int]]:
    """Decode bytes as UTF-8 (with or without BOM), else cp1252, line by line where mixed.

    Returns
    -------
    text, encoding, bad_lines
        ``bad_lines`` holds the 1-based physical line numbers that no encoding could read;
        they are decoded with replacement characters so that the row is kept for quarantine.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8", set()
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252", set()
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    out: list[str] = []
    bad: set[int] = set()
    for i, line in enumerate(lines, start=1):
        for enc in ("utf-8", "cp1252"):
            try:
                out.append(line.decode(enc))
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(line.decode("utf-8", errors="replace"))
            bad.add(i)
    text = "\n".join(out)
    return text.lstrip("\ufeff"), "mixed", bad


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


@dataclass
class CsvRecords:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    quarantine: list[dict[str, Any]]
    rows_read: int
    encoding: str


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def read_csv_records(data: bytes, path: str | Path) -> CsvRecords:
    """Parse CSV bytes into records keyed by header, quarantining rows that cannot be read.

    Blank lines are skipped (they hold no row). A row with more or fewer fields than the header
    is quarantined as ``malformed_row``; one holding bytes that no encoding reads as
    ``bad_encoding``.
    """
    data = maybe_gunzip(data, path)
    if is_binary(data):
        raise FileRefused("binary_file", f"{path}: this is a binary file, not CSV text")
    text, encoding, bad_lines = decode_text(data)
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise FileRefused("unreadable", f"{path}: no CSV header could be read") from exc
    header = [h.strip().lstrip("\ufeff") for h in header]
    if not any(header):
        raise FileRefused("missing_columns", f"{path}: the header row is blank")
    seen: set[str] = set()
    for h in header:
        if h and h in seen:
            raise FileRefused("missing_columns", f"{path}: column {h!r} appears twice in the header")
        seen.add(h)
    rows: list[tuple[int, dict[str, str]]] = []
    quarantine: list[dict[str, Any]] = []
    row_number = 0
    n = len(header)
    while True:
        start_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_number += 1
            quarantine.append(quarantine_row(row_number, {"line": start_line}, "malformed_row",
                                             f"line {start_line}: the CSV cannot be parsed here ({exc})"))
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        row_number += 1
        end_line = reader.line_num
        if any(ln in bad_lines for ln in range(start_line, end_line + 1)):
            quarantine.append(quarantine_row(row_number, dict(zip(header, fields)), "bad_encoding",
                                             f"line {start_line}: bytes that are neither UTF-8 nor "
                                             "Windows-1252; re-save the file as UTF-8"))
            continue
        if len(fields) != n:
            raw = {"line": start_line, "fields": fields}
            quarantine.append(quarantine_row(row_number, raw, "malformed_row",
                                             f"line {start_line}: {len(fields)} fields where the "
                                             f"header has {n}"))
            continue
        rows.append((row_number, dict(zip(header, fields))))
    return CsvRecords(header, rows, quarantine, row_number, encoding)


def load_json(data: bytes, path: str | Path) -> Any:
    data = maybe_gunzip(data, path)
    text, _, bad = decode_text(data)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRefused("unreadable", f"{path}: not valid JSON (line {exc.lineno}, column "
                                        f"{exc.colno}: {exc.msg})") from exc


GSS_RE = re.compile(r"^[EWSNK]\d{8}$")
#: GSS prefixes (entity codes) -> level.
GSS_LEVELS = {
    "E00": "oa", "W00": "oa", "E01": "lsoa", "W01": "lsoa", "E02": "msoa", "W02": "msoa",
    "E05": "ward", "W05": "ward", "E06": "la", "E07": "la", "E08": "la", "E09": "la", "W06": "la",
}


def level_of(code: str) -> str | None:
    """The level of a GSS code (``E05001178`` -> ``ward``), or None when not a supported code."""
    if not isinstance(code, str) or not GSS_RE.match(code):
        return None
    return GSS_LEVELS.get(code[:3])


def norm_key(name: str) -> str:
    """A header or property name reduced to lower-case letters and digits."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""
