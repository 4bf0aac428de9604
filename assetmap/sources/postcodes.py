"""Postcode lookups (ONSPD / NSPL / Code-Point Open style): postcode and a position.

Columns by name: ``pcds``/``pcd``/``postcode``; ``oseast1m``/``easting`` and
``osnrth1m``/``northing``, or ``lat``/``long``. Used to place provider rows that give only a
postcode.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from pyproj import Transformer

from assetmap.db.sql import upsert
from assetmap.settings import DISPLAY_CRS, STORE_CRS, settings
from assetmap.sources._io import FileRefused, ReadResult, norm_key, quarantine_row, read_csv_records
from assetmap.sources.registry import Reader, Written
from assetmap.vocab.file_kinds import KINDS

KIND = "postcodes"

POSTCODE_RE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})$")
_IN_TEXT = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})\b", re.IGNORECASE)


def normalise_postcode(value: Any) -> str | None:
    """``b12 9ab`` -> ``B12 9AB``; None when it is not shaped like a UK postcode."""
    if value is None:
        return None
    text = re.sub(r"\s+", "", str(value).upper())
    m = POSTCODE_RE.match(text)
    return f"{m.group(1)} {m.group(2)}" if m else None


def find_postcode(text: Any) -> str | None:
    """Return the last UK postcode in free text (an address), normalised."""
    if not text:
        return None
    matches = _IN_TEXT.findall(str(text))
    return f"{matches[-1][0].upper()} {matches[-1][1].upper()}" if matches else None


def columns(header: list[str]) -> dict[str, str] | None:
    """Which header names the postcode, easting/northing or lat/lon columns (None: not a postcode lookup)."""
    keys = {norm_key(h): h for h in header}
    pc = next((keys[k] for k in ("pcds", "pcd", "pcd2", "postcode") if k in keys), None)
    if pc is None:
        return None
    e = next((keys[k] for k in ("oseast1m", "easting", "eastings") if k in keys), None)
    n = next((keys[k] for k in ("osnrth1m", "northing", "northings") if k in keys), None)
    lat = next((keys[k] for k in ("lat", "latitude") if k in keys), None)
    lon = next((keys[k] for k in ("long", "lon", "longitude") if k in keys), None)
    if e and n:
        return {"postcode": pc, "easting": e, "northing": n}
    if lat and lon:
        return {"postcode": pc, "lat": lat, "lon": lon}
    return None


def looks_like_postcodes(header: list[str]) -> bool:
    """Whether a header (or document) is this reader's format."""
    keys = {norm_key(h) for h in header}
    return columns(header) is not None and "name" not in keys and "category" not in keys


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    rec = read_csv_records(data, path)
    cols = columns(rec.header)
    if cols is None:
        raise FileRefused("missing_columns", f"{path}: a postcode lookup needs a postcode column "
                                             "(pcds) and easting/northing or lat/long")
    quarantine = list(rec.quarantine)
    rows = []
    to_bng = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True)
    min_e, min_n, max_e, max_n = settings.bng_bounds
    seen: set[str] = set()
    for rn, row in rec.rows:
        pc = normalise_postcode(row[cols["postcode"]])
        if pc is None:
            quarantine.append(quarantine_row(rn, row, "invalid_postcode",
                                             f"row {rn}: {row[cols['postcode']]!r} is not a UK postcode"))
            continue
        try:
            if "easting" in cols:
                x, y = float(row[cols["easting"]]), float(row[cols["northing"]])
            else:
                x, y = to_bng.transform(float(row[cols["lon"]]), float(row[cols["lat"]]))
        except ValueError:
            quarantine.append(quarantine_row(rn, row, "unparsable_coordinates",
                                             f"row {rn}: the position of {pc} is not a number"))
            continue
        if not (min_e < x <= max_e and min_n < y <= max_n):
            # ONSPD marks postcodes with no grid reference by 0/0 or blanks
            quarantine.append(quarantine_row(rn, row, "missing_coordinates",
                                             f"row {rn}: {pc} has no usable grid reference"))
            continue
        if pc in seen:
            quarantine.append(quarantine_row(rn, row, "duplicate_source_id",
                                             f"row {rn}: postcode {pc} appears twice"))
            continue
        seen.add(pc)
        rows.append((rn, pc, x, y))
    frame = pd.DataFrame(rows, columns=["row_number", "postcode", "x", "y"])
    return ReadResult(KIND, frame, quarantine, rec.rows_read, {})


def write(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store what :func:`read` read, inside the ingest's transaction; return what was written."""
    frame = result.frame
    if not frame.empty:
        upsert(con, "postcodes", frame[["postcode", "x", "y"]], ["postcode"],
               values={"postcode": "postcode", "geom": "ST_Point(x, y)", "ingest_id": "?"}, params=[ingest_id])
    return Written(len(frame), result.quarantine, [], 0, f"{len(frame)} postcodes")


READER = Reader(
    KIND, KINDS[KIND], read, write, tables=("postcodes",), rank=2,
    csv=lambda header, _text, _options: looks_like_postcodes(header))
