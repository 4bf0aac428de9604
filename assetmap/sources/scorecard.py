"""Race equality scorecard indicators: a CSV per local authority, domain, indicator and group.

Columns ``la_code, domain, indicator, group, value, reference_group, reference_value, year,
source`` and optionally ``lower, upper`` (a confidence interval of ``value``). ``domain`` is one
of the seven areas of a local race disparity audit (:mod:`assetmap.vocab.scorecards`). Every row
is stored or quarantined with its reason: a code that is not a local authority's, an unknown
domain, a value or year that is not a number, a reference value of zero, an interval that does
not hold the value, no source, the same indicator, group and year twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
from assetmap.vocab.file_kinds import KINDS
from assetmap.vocab.scorecards import DOMAINS, normalise_domain

KIND = "scorecard"
#: The years a scorecard figure may be for.
_YEARS = (1950, 2100)
_REQUIRED = ("lacode", "domain", "indicator", "group", "value", "referencegroup", "referencevalue", "year",
             "source")
_COLUMNS = ["row_number", "la_code", "domain", "indicator", "grp", "value", "reference_group", "reference_value",
            "year", "source", "lower", "upper"]


def looks_like_scorecard(header: list[str]) -> bool:
    """Whether a header (or document) is this reader's format."""
    keys = {norm_key(h) for h in header}
    return all(k in keys for k in _REQUIRED)


def _num(text: str) -> float | None:
    try:
        x = float(str(text).strip().replace(",", ""))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


class _Refused(Exception):
    """A row that cannot be stored: its reason code and message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _row(rn: int, row: dict[str, str], col: dict[str, str]) -> tuple[tuple[Any, ...] | None, str | None, str | None]:
    """Return the stored row, or (None, reason, message)."""
    def get(key: str) -> str:
        return (row.get(col[key]) or "").strip() if key in col else ""

    try:
        return _checked(rn, get), None, None
    except _Refused as exc:
        return None, exc.reason, exc.message


def _checked(rn: int, get: Callable[[str], str]) -> tuple[Any, ...]:
    """Return a row's stored values, or raise :class:`_Refused` saying what is wrong with it."""
    la = get("lacode").upper()
    if level_of(la) != "la":
        msg = f"row {rn}: {la or 'an empty code'!r} is not a local authority's GSS code"
        raise _Refused("invalid_code", msg)
    domain = normalise_domain(get("domain"))
    if domain is None:
        msg = f"row {rn}: domain {get('domain')!r} is not one of {', '.join(DOMAINS.values())}"
        raise _Refused("invalid_value", msg)
    indicator, group, ref_group, source = get("indicator"), get("group"), get("referencegroup"), get("source")
    for name, text in (("indicator", indicator), ("group", group), ("reference_group", ref_group),
                       ("source", source)):
        if not text:
            msg = (f"row {rn}: {name} is empty (every figure needs its source)" if name == "source"
                   else f"row {rn}: {name} is empty")
            raise _Refused("missing_required", msg)
    value, ref = _num(get("value")), _num(get("referencevalue"))
    if value is None or ref is None:
        bad = "value" if value is None else "reference_value"
        msg = f"row {rn}: {bad} {get(bad.replace('_', '')) !r} is not a number"
        raise _Refused("invalid_value", msg)
    if value < 0 or ref <= 0:
        msg = (f"row {rn}: a disparity ratio needs a value of 0 or more and a reference value above 0 "
               f"(got {value:g} and {ref:g})")
        raise _Refused("invalid_value", msg)
    year_text = get("year")
    year = int(year_text) if year_text.isdigit() and len(year_text) == len("2021") else None
    if year is None or not _YEARS[0] <= year <= _YEARS[1]:
        msg = f"row {rn}: year {year_text!r} is not a year"
        raise _Refused("invalid_value", msg)
    lower = _num(get("lower")) if get("lower") else None
    upper = _num(get("upper")) if get("upper") else None
    if (get("lower") and lower is None) or (get("upper") and upper is None):
        msg = f"row {rn}: the interval's bounds are not numbers"
        raise _Refused("invalid_value", msg)
    if (lower is not None and lower > value) or (upper is not None and upper < value):
        msg = f"row {rn}: the interval [{lower}, {upper}] does not hold the value {value:g}"
        raise _Refused("invalid_value", msg)
    return (rn, la, domain, indicator, group, value, ref_group, ref, year, source, lower, upper)


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    rec = read_csv_records(data, path)
    if not looks_like_scorecard(rec.header):
        raise FileRefused("missing_columns", f"{path}: a scorecard needs columns {', '.join(_REQUIRED)} "
                                             "(la_code, domain, indicator, group, value, reference_group, "
                                             "reference_value, year, source[, lower, upper])")
    col = {norm_key(h): h for h in rec.header}
    quarantine = list(rec.quarantine)
    rows = []
    for rn, row in rec.rows:
        out, reason, message = _row(rn, row, col)
        if out is None:
            quarantine.append(quarantine_row(rn, row, reason or "invalid_value", message or f"row {rn}"))
        else:
            rows.append(out)
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame = drop_repeats(frame, ["la_code", "domain", "indicator", "grp", "year"], rec.rows, quarantine,
                         "the same authority, indicator, group and year")
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    if not frame.empty:
        rows = frame.drop(columns=["row_number"]).assign(ingest_id=ingest_id)
        upsert(con, "scorecard_indicators", rows, ["la_code", "domain", "indicator", "grp", "year"],
               values={"la_code": "la_code", "domain": "domain", "indicator": "indicator", "grp": "grp",
                       "value": "value", "reference_group": "reference_group", "reference_value": "reference_value",
                       "year": "year", "source": "source", "lower": "lower", "upper": "upper",
                       "ingest_id": "ingest_id"})
    las = frame["la_code"].nunique() if not frame.empty else 0
    return Written(len(frame), result.quarantine, [], 0, f"{len(frame)} scorecard figures for {las} authorities")


READER = Reader(
    KIND, KINDS[KIND],
    read, write, tables=("scorecard_indicators",), rank=3,
    csv=lambda header, _text, _options: looks_like_scorecard(header))
