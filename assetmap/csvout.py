"""The one CSV writer for what people download: no cell a spreadsheet would run as a formula.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel and LibreOffice as a formula (``=HYPERLINK("http://attacker.example/x")``): OWASP's "CSV
injection". Every CSV assetmap writes (``assetmap export --format csv`` and every dashboard
download) goes through :func:`to_csv_bytes`, which puts a ``'`` before such a cell, as OWASP
recommends, unless the whole cell is a number (``-3.5`` stays a number). The original value stays
in the store and in the GeoJSON, GeoPackage and JSON exports, which spreadsheets do not evaluate.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import cast

import pandas as pd

#: What a spreadsheet reads as the start of a formula.
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value: object) -> object:
    """``value``, with a ``'`` before it when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_TRIGGERS) and not _NUMBER.match(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells are :func:`neutralise`-d.

    Return a copy of ``frame`` whose text cells are :func:`neutralise`-d (numbers, dates and booleans are not
    text and are left alone).
    """
    out = pd.DataFrame(frame).copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            out[col] = s.map(neutralise, na_action="ignore")
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV bytes, safe to open in a spreadsheet (geometry left out).

    Text is quoted, numbers are not: a carriage return inside a cell stays inside it.
    """
    text = safe_frame(pd.DataFrame(frame).drop(columns="geometry", errors="ignore")).to_csv(
        index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return cast("bytes", text.encode("utf-8"))


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` to ``path`` as :func:`to_csv_bytes` does."""
    Path(path).write_bytes(to_csv_bytes(frame))
