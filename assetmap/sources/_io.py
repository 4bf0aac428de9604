"""Shared reading helpers: bytes, encodings, CSV records, the read result and file refusal."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assetmap.errors import FileRefused as FileRefused  # the readers take it from here

REPLACEMENT = "\ufffd"
#: JSON's bytes that matter to its depth: a backslash, a quote, the brackets that open and close.
_BACKSLASH, _QUOTE = ord("\\"), ord('"')
_OPENING, _CLOSING = [ord("["), ord("{")], [ord("]"), ord("}")]


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
    """Return a quarantine record; ``raw`` is kept as JSON text so that nothing is lost."""
    if not isinstance(raw, str):
        raw = json.dumps(raw, default=str, ensure_ascii=False)
    return {"row_number": int(row_number), "raw": raw, "reason_code": reason_code, "message": message}


def drop_repeats(frame: pd.DataFrame, keys: list[str], rows: list[tuple[int, Any]],
                 quarantine: list[dict[str, Any]], what: str) -> pd.DataFrame:
    """``frame`` without the rows that repeat an earlier row's ``keys``.

    Each repeat goes to ``quarantine`` as ``duplicate_area`` ("row N: {what} earlier in the file"), with its raw
    row from ``rows`` (``(row_number, raw)`` pairs).
    """
    dup = frame.duplicated(keys, keep="first")
    raw_by_row = dict(rows)
    for rn in frame.loc[dup, "row_number"]:
        quarantine.append(quarantine_row(int(rn), raw_by_row[int(rn)], "duplicate_area",
                                         f"row {rn}: {what} earlier in the file"))
    return frame[~dup]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refuse_special(p: Path, mode: int) -> None:
    """Refuse anything that is not a regular file, saying what it is (never what it holds)."""
    if stat.S_ISLNK(mode):
        raise FileRefused("symlink", f"{p.name}: a symbolic link; links are never followed, copy the "
                                     "file itself in")
    if stat.S_ISDIR(mode):
        raise FileRefused("folder", f"{p.name} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise FileRefused("special_file", f"{p.name}: not a regular file (a pipe, device or socket)")


def _open(p: Path, no_follow: bool) -> int:
    """Return a descriptor of ``p`` opened for reading, or :class:`FileRefused` saying why not.

    Return a descriptor of ``p`` opened for reading (without following a link, or blocking on a pipe, when
    ``no_follow``), or :class:`FileRefused` saying why not.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if no_follow:
        flags |= os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        return os.open(p, flags)
    except FileNotFoundError:
        raise FileRefused("file_not_found", f"{p}: no such file") from None
    except OSError as exc:
        if no_follow and exc.errno in (errno.ELOOP, errno.EMLINK):
            raise FileRefused("symlink", f"{p.name}: a symbolic link; links are never followed, copy "
                                         "the file itself in") from None
        if exc.errno == errno.EISDIR:
            raise FileRefused("folder", f"{p} is a folder, not a file") from None
        raise FileRefused("unreadable", f"{p}: cannot be read ({exc.strerror or exc})") from None


def _check_opened(p: Path, st: os.stat_result, no_follow: bool, max_bytes: int | None) -> None:
    """Refuse what was opened when it is not a file to read.

    (at the trust boundary) anything but a regular file with one name; a folder; more than ``max_bytes``.
    """
    if no_follow:
        _refuse_special(p, st.st_mode)
        if st.st_nlink > 1:
            raise FileRefused("hard_link", f"{p.name}: a file with other names (a hard link); copy "
                                           "the file itself in")
    elif stat.S_ISDIR(st.st_mode):
        raise FileRefused("unreadable", f"{p} is a folder, not a file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise FileRefused("too_large", f"{p.name}: {st.st_size:,} bytes, more than the "
                                       f"{max_bytes:,} this kind of file may have (see settings)")


def _read_all(fd: int, p: Path, max_bytes: int | None) -> list[bytes]:
    """Return the descriptor's bytes in chunks, refusing a file that grows past ``max_bytes`` as it is read."""
    chunks: list[bytes] = []
    total = 0
    limit = max_bytes if max_bytes is not None else -1
    while chunk := os.read(fd, 1 << 24):
        chunks.append(chunk)
        total += len(chunk)
        if limit >= 0 and total > limit:  # it grew while being read
            raise FileRefused("too_large", f"{p.name}: more than the {max_bytes:,} bytes this "
                                           "kind of file may have (see settings)")
    return chunks


def read_bytes(path: str | Path, *, no_follow: bool = False, max_bytes: int | None = None) -> bytes:
    """Read a file whole, refusing missing, unreadable, empty and oversized files clearly.

    Parameters
    ----------
    path
        The file.
    no_follow
        The trust boundary of the inbox: open the file itself, never what a symbolic link
        points at (``O_NOFOLLOW``, so a file swapped for a link after it was checked is refused
        too), never block on a pipe, and refuse anything that is not a regular file with a
        single name (a hard link may be another name of a file outside the inbox).
    max_bytes
        Refuse a larger file (``too_large``) without reading past the limit.
    """
    p = Path(path)
    fd = _open(p, no_follow)
    try:
        _check_opened(p, os.fstat(fd), no_follow, max_bytes)
        if no_follow:
            os.set_blocking(fd, True)
        chunks = _read_all(fd, p, max_bytes)
    except OSError as exc:
        raise FileRefused("unreadable", f"{p}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data.strip():
        raise FileRefused("empty_file", f"{p} is empty")
    return data


def maybe_gunzip(data: bytes, path: str | Path, max_bytes: int | None = None) -> bytes:
    """Unpack gzip data, refusing more than ``max_bytes`` unpacked.

    Unpack gzip data (anything else is returned as it is), refusing more than ``max_bytes`` unpacked (default:
    ``settings.max_unpacked_bytes``), so a small bomb cannot fill memory.
    """
    if data[:2] != b"\x1f\x8b":
        return data
    from assetmap.settings import settings

    limit = settings.max_unpacked_bytes if max_bytes is None else max_bytes
    parts: list[bytes] = []
    total = 0
    rest = data
    while rest[:2] == b"\x1f\x8b":  # one gzip member after another, as gzip itself allows
        d = zlib.decompressobj(wbits=31)
        try:
            out = d.decompress(rest, limit - total + 1)
        except zlib.error as exc:
            raise FileRefused("unreadable", f"{Path(path).name}: damaged gzip file ({exc})") from None
        total += len(out)
        if total > limit:
            raise FileRefused("too_large", f"{Path(path).name}: unpacks to more than {limit:,} bytes "
                                           "(see settings)")
        if not d.eof:
            raise FileRefused("unreadable", f"{Path(path).name}: damaged gzip file (it ends too soon)")
        parts.append(out)
        rest = d.unused_data
    return b"".join(parts)


def json_depth(data: bytes, limit: int, step: int = 1 << 24) -> int:
    """How deeply the arrays and objects of JSON text nest, counted without parsing it (and so without recursion).

    The scan stops once it is past ``limit``.

    Brackets inside strings do not count. Runs over the bytes in slices with numpy: a quote
    opens or closes a string unless an odd run of backslashes stands before it.
    """
    depth = maxd = 0
    in_str = False
    carry_bs = 0  # backslashes that ended the previous slice
    for off in range(0, len(data), step):
        a = np.frombuffer(data, dtype=np.uint8, count=min(step, len(data) - off), offset=off)
        n = len(a)
        bs = a == _BACKSLASH
        idx = np.arange(n)
        last_other = np.maximum.accumulate(np.where(bs, -1, idx))
        run = np.empty(n, dtype=np.int64)  # backslashes just before each byte
        run[0] = carry_bs
        run[1:] = idx[:-1] - last_other[:-1]
        run[1:] += np.where(last_other[:-1] < 0, carry_bs, 0)
        quote = (a == _QUOTE) & (run % 2 == 0)
        before = np.cumsum(quote) - quote  # quotes before each byte in this slice
        inside = (before % 2 == 1) ^ in_str
        delta = np.isin(a, _OPENING).astype(np.int64) - np.isin(a, _CLOSING)
        delta[inside | quote] = 0
        levels = depth + np.cumsum(delta)
        maxd = max(maxd, int(levels.max()))
        if maxd > limit:
            return maxd
        depth = int(levels[-1])
        in_str = bool(in_str ^ (int(quote.sum()) % 2 == 1))
        carry_bs = int(run[-1] + 1) if bs[-1] else 0
    return maxd


def check_json_depth(data: bytes, path: str | Path, limit: int) -> None:
    """Refuse JSON nested more deeply than ``limit`` (``too_deep``) before anything parses it."""
    if json_depth(data, limit) > limit:
        raise FileRefused("too_deep", f"{Path(path).name}: JSON nested more than {limit} levels deep "
                                      "(see settings)")


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
    best = max(counts, key=counts.__getitem__)
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
            quarantine.append(quarantine_row(row_number, dict(zip(header, fields, strict=False)), "bad_encoding",
                                             f"line {start_line}: bytes that are neither UTF-8 nor "
                                             "Windows-1252; re-save the file as UTF-8"))
            continue
        if len(fields) != n:
            raw = {"line": start_line, "fields": fields}
            quarantine.append(quarantine_row(row_number, raw, "malformed_row",
                                             f"line {start_line}: {len(fields)} fields where the "
                                             f"header has {n}"))
            continue
        rows.append((row_number, dict(zip(header, fields, strict=False))))
    return CsvRecords(header, rows, quarantine, row_number, encoding)


def load_json(data: bytes, path: str | Path, max_depth: int | None = None) -> Any:
    """Parse JSON bytes, refusing invalid JSON and JSON nested too deeply.

    Parse JSON bytes (gzip unpacked), refusing invalid JSON and JSON nested more deeply than ``max_depth``
    (default ``settings.max_json_depth``) before the parser could recurse into it.
    """
    from assetmap.settings import settings

    data = maybe_gunzip(data, path)
    check_json_depth(data, path, settings.max_json_depth["files"] if max_depth is None else max_depth)
    text, _, _bad = decode_text(data)
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
    "S12": "la", "N09": "la",  # Scottish council areas and Northern Irish districts (Asy_D11 has them)
}


def level_of(code: str) -> str | None:
    """Return the level of a GSS code (``E05001178`` -> ``ward``), or None when not a supported code."""
    if not isinstance(code, str) or not GSS_RE.match(code):
        return None
    return GSS_LEVELS.get(code[:3])


def norm_key(name: str) -> str:
    """Return a header or property name reduced to lower-case letters and digits."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def csv_header(data: bytes) -> list[str]:
    """Return the column names on the first line of a (possibly gzipped) delimited file; [] for none."""
    import csv
    import io

    text, _, _ = decode_text(maybe_gunzip(data, "")[:65536])
    first = text.split("\n", 1)[0]
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(first), delimiter=sniff_delimiter(first)))]
    except StopIteration:
        return []
