"""The common shape of asset rows that every asset reader produces for validation."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, cast

import duckdb
import pandas as pd

from assetmap.db.sql import scalar, upsert
from assetmap.sources._io import FileRefused, ReadResult
from assetmap.sources.registry import Written
from assetmap.sources.validate import prepare_assets
from assetmap.vocab.categories import ATTRIBUTES

#: What a stored site's columns are made of, from a frame of :data:`_ASSET_COLS`.
_ASSET_VALUES = {
    "asset_id": "asset_id", "category": "category", "subtype": "subtype", "name": "name", "name_key": "name_key",
    "address": "address", "postcode": "postcode", "geom": "ST_Point(x, y)", "attrs": "attrs::JSON",
    "sensitive": "sensitive", "source": "source", "source_record_id": "source_record_id", "licence": "licence",
    "observed_at": "observed_at", "ingest_id": "?", "oa_code": "oa_code", "ward_code": "ward_code"}
#: Columns of an asset candidate frame, in order.
COLUMNS = (
    "row_number", "raw", "name", "category", "subtype", "address", "postcode", "lat", "lon",
    "easting", "northing", "source_record_id", "sensitive", "observed_at", "licence", "attrs", "status",
    "reason", "message",
)
#: Fields a column mapping (``--map target=source``) may fill.
MAPPABLE = ("name", "category", "subtype", "address", "postcode", "lat", "lon", "easting",
            "northing", "source_record_id", "sensitive", "observed_at", "licence", "status", *ATTRIBUTES)

_HEADER_ALIASES = {
    "latitude": "lat", "y_lat": "lat", "longitude": "lon", "lng": "lon", "long": "lon",
    "x": "easting", "y": "northing", "eastings": "easting", "northings": "northing",
    "id": "source_record_id", "source_id": "source_record_id", "ref": "source_record_id",
    "record_id": "source_record_id", "type": "category", "religion": "subtype",
    "post_code": "postcode", "url": "website", "languages_spoken": "languages",
    "levels": "esol_levels", "creche": "childcare", "waiting_list": "waiting_list_weeks",
    "hours": "opening_hours", "step_free_access": "step_free", "wheelchair": "step_free",
}


def canonical_field(header: str) -> str:
    """Map a header of a provider file to a template field (``Latitude`` -> ``lat``)."""
    key = header.strip().lower().replace(" ", "_").replace("-", "_")
    return _HEADER_ALIASES.get(key, key)


def candidate(row_number: int, raw: Any, **fields: Any) -> dict[str, Any]:
    """One asset candidate; unknown field names go into ``attrs`` when they are attributes."""
    rec: dict[str, Any] = dict.fromkeys(COLUMNS)
    rec["row_number"] = int(row_number)
    rec["raw"] = raw if isinstance(raw, str) else json.dumps(raw, default=str, ensure_ascii=False)
    attrs: dict[str, Any] = dict(fields.pop("attrs", None) or {})
    for key, value in fields.items():
        if key in rec:
            rec[key] = value
        elif key in ATTRIBUTES:
            attrs[key] = value
    rec["attrs"] = attrs
    return rec


def frame(candidates: list[dict[str, Any]]) -> pd.DataFrame:
    if not candidates:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    return pd.DataFrame(candidates, columns=list(COLUMNS)).astype({"row_number": "int64"})


def get_path(obj: Any, dotted: str) -> Any:
    """``get_path({"hours": {"opening": "Mo"}}, "hours.opening") == "Mo"``; None when absent."""
    cur = obj
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


_ASSET_COLS = ["asset_id", "category", "subtype", "name", "name_key", "address", "postcode", "x", "y",
               "attrs", "sensitive", "source", "source_record_id", "licence", "observed_at",
               "oa_code", "ward_code"]

#: A site whose position changed by more than this (metres) has moved; less is a correction.
MOVE_M = 25.0


def _effective(options: dict[str, Any]) -> _dt.datetime:
    """When the file's changes took effect: ``effective`` (a date or time), else now."""
    value = options.get("effective")
    if value in (None, ""):
        return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    ts = pd.Timestamp(str(value))
    return cast("_dt.datetime", (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).to_pydatetime())


def _end_versions(con: duckdb.DuckDBPyConnection, ids: str, eff: _dt.datetime, ingest_id: int) -> None:
    """End the current version of the assets listed in the registered relation ``ids``."""
    con.execute(f"""UPDATE asset_versions SET valid_to = ?, ended_by = ?
                    WHERE valid_to IS NULL AND asset_id IN (SELECT asset_id FROM {ids})""",  # noqa: S608 (ours)
                [eff, ingest_id])


def _close(con: duckdb.DuckDBPyConnection, ids: list[str], eff: _dt.datetime, ingest_id: int) -> list[str]:
    """Close the assets ``ids`` still open.

    A last version with status 'closed', and gone from ``assets`` (the analysis and the maps read what is open).
    Returns the wards they were in.
    """
    if not ids:
        return []
    con.register("_closing", pd.DataFrame({"asset_id": ids}))
    try:
        wards = [w for (w,) in con.execute(
            "SELECT DISTINCT ward_code FROM assets WHERE asset_id IN (SELECT asset_id FROM _closing) "
            "AND ward_code IS NOT NULL").fetchall()]
        _end_versions(con, "_closing", eff, ingest_id)
        con.execute(
            """INSERT INTO asset_versions
               SELECT a.asset_id, (SELECT max(version) FROM asset_versions v WHERE v.asset_id = a.asset_id) + 1,
                      'closed', 'closed', ?, NULL, ?, NULL, a.category, a.subtype, a.name, a.address, a.postcode,
                      a.geom, a.attrs, a.sensitive, a.source, a.source_record_id, a.oa_code, a.ward_code, NULL
               FROM assets a WHERE a.asset_id IN (SELECT asset_id FROM _closing)""", [eff, ingest_id])
        con.execute("DELETE FROM assets WHERE asset_id IN (SELECT asset_id FROM _closing)")
    finally:
        con.unregister("_closing")
    return wards


def _check_order(con: duckdb.DuckDBPyConnection, ids: str, eff: _dt.datetime, source: str) -> None:
    """Refuse changes that would take effect before the versions they end began.

    History files go in oldest first.
    """
    latest = scalar(con, f"""SELECT max(valid_from) FROM asset_versions
                             WHERE valid_to IS NULL AND asset_id IN (SELECT asset_id FROM {ids})""")  # noqa: S608
    if latest is not None and latest > eff:
        raise FileRefused(
            "out_of_order", f"this file of {source!r} takes effect on {eff:%Y-%m-%d %H:%M}, before the versions "
            f"it would end began ({latest:%Y-%m-%d %H:%M}): ingest the files of a source oldest first, each with "
            "--effective DATE")


def _open_and_change(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, eff: _dt.datetime, source: str,
                     ingest_id: int) -> pd.DataFrame:
    """Store the sites of ``df`` and give each new or changed one a version; return what changed.

    Each row of the result is a site with its ward now and before and its change (``opened``,
    ``reopened``, ``moved`` beyond :data:`MOVE_M`, or ``changed``).
    """
    con.register("_a", df)
    try:
        changed = con.execute(
            f"""
            SELECT n.asset_id, n.ward_code AS new_ward, o.ward_code AS old_ward,
                   ST_Distance(o.geom, ST_Point(n.x, n.y)) AS moved_m,
                   CASE WHEN o.asset_id IS NULL
                         AND EXISTS (SELECT 1 FROM asset_versions v WHERE v.asset_id = n.asset_id)
                        THEN 'reopened'
                        WHEN o.asset_id IS NULL THEN 'opened'
                        WHEN moved_m > {MOVE_M} THEN 'moved'
                        ELSE 'changed' END AS change
            FROM _a n LEFT JOIN assets o ON o.asset_id = n.asset_id
            WHERE o.asset_id IS NULL
               OR o.category IS DISTINCT FROM n.category OR o.subtype IS DISTINCT FROM n.subtype
               OR o.name IS DISTINCT FROM n.name OR o.address IS DISTINCT FROM n.address
               OR o.postcode IS DISTINCT FROM n.postcode OR o.attrs::VARCHAR IS DISTINCT FROM n.attrs
               OR o.sensitive IS DISTINCT FROM n.sensitive
               OR ST_X(o.geom) IS DISTINCT FROM n.x OR ST_Y(o.geom) IS DISTINCT FROM n.y
            """  # noqa: S608 (a constant)
        ).df()
        con.register("_changed", changed)
        try:
            _check_order(con, "_changed", eff, source)
            _end_versions(con, "_changed", eff, ingest_id)
        finally:
            con.unregister("_changed")
        # a site keeps the source that first listed it
        upsert(con, "assets", df, ["asset_id"], values=_ASSET_VALUES, params=[ingest_id],
               update=[c for c in _ASSET_VALUES if c not in ("asset_id", "source")])
        con.register("_changed", changed[["asset_id", "change", "moved_m"]])
        try:
            con.execute(
                """INSERT INTO asset_versions
                   SELECT a.asset_id, coalesce((SELECT max(version) FROM asset_versions v
                                                WHERE v.asset_id = a.asset_id), 0) + 1,
                          c.change, 'open', ?, NULL, ?, NULL, a.category, a.subtype, a.name, a.address,
                          a.postcode, a.geom, a.attrs, a.sensitive, a.source, a.source_record_id, a.oa_code,
                          a.ward_code, CASE WHEN c.change = 'moved' THEN c.moved_m END
                   FROM assets a JOIN _changed c USING (asset_id)""", [eff, ingest_id])
        finally:
            con.unregister("_changed")
    finally:
        con.unregister("_a")
    return changed


def _closures(con: duckdb.DuckDBPyConnection, accepted: pd.DataFrame, closing: pd.Series,
              quarantine: list[dict[str, Any]], options: dict[str, Any], source: str) -> tuple[list[str], list[str]]:
    """Return the sites to close and notes on it.

    The records marked closed, and (only when asked, ``closes_missing``) what a whole re-sent
    source no longer lists; never the latter when rows of the file were quarantined.
    """
    to_close = sorted(set(accepted.loc[closing, "asset_id"]))
    notes = []
    if options.get("closes_missing"):
        if quarantine:
            notes.append(f"closures of unlisted sites not applied: {len(quarantine)} rows were quarantined "
                         "(fix them and send the file again)")
        else:
            listed = set(accepted["asset_id"])
            to_close += [a for (a,) in con.execute("SELECT asset_id FROM assets WHERE source = ?", [source]).fetchall()
                         if a not in listed]
    return to_close, notes


def write_assets(con: duckdb.DuckDBPyConnection, result: ReadResult, ingest_id: int, source: str,
          options: dict[str, Any]) -> Written:
    """Store the accepted sites, keeping every asset's history (:data:`asset_versions`).

    A new site opens; a changed one gets a new version (``moved`` beyond :data:`MOVE_M`,
    else ``changed``); a record marked closed (``status``), or with ``closes_missing`` one of this
    source's sites the file no longer lists, closes. Each takes effect at ``effective`` (default now).
    """
    accepted, quarantine = prepare_assets(result.frame, con, source, options.get("licence"))
    quarantine = list(result.quarantine) + quarantine
    if accepted.empty:
        return Written(0, quarantine, [], 0, result.meta.get("note") or "no assets accepted")
    eff = _effective(options)
    closing = accepted["status"].eq("closed") if "status" in accepted else pd.Series(False, index=accepted.index)
    df = accepted.loc[~closing, _ASSET_COLS].copy()
    df["observed_at"] = pd.to_datetime(df["observed_at"])
    changed = _open_and_change(con, df, eff, source, ingest_id)
    to_close, notes = _closures(con, accepted, closing, quarantine, options, source)
    if to_close:
        con.register("_ids", pd.DataFrame({"asset_id": to_close}))
        try:
            _check_order(con, "_ids", eff, source)
        finally:
            con.unregister("_ids")
    closed_wards = _close(con, sorted(set(to_close)), eff, ingest_id)
    n_closed = int(scalar(
        con, "SELECT count(*) FROM asset_versions WHERE ended_by IS NULL AND ingest_id = ? AND change = 'closed'",
        [ingest_id]) or 0)
    wards = sorted(set(pd.concat([changed["new_ward"], changed["old_ward"]]).dropna()) | set(closed_wards))
    cats = accepted.loc[~closing, "category"].value_counts().to_dict()
    note = f"{int((~closing).sum())} assets (" + ", ".join(f"{k} {v}" for k, v in sorted(cats.items())) + ")"
    if n_closed:
        note += f"; {n_closed} closed"
    if notes:
        note += "; " + "; ".join(notes)
    return Written(len(accepted), quarantine, wards, len(changed) + n_closed, note)
