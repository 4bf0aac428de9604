"""Ingest: read a file, validate its rows, and store them in one transaction.

Guarantees
----------
- every row read is stored or quarantined with a reason: ``rows_read = rows_accepted +
  rows_quarantined`` (checked before commit, and by the table's CHECK constraint);
- a file that cannot be read at all is refused: the data tables are left exactly as they were,
  and the refusal is recorded in ``ingests`` and ``events``;
- the same bytes with the same options, once taken, are a no-op.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import shapely

from assetmap import events, geography, sources
from assetmap.settings import settings
from assetmap.sources._io import FileRefused, read_bytes, sha256_bytes
from assetmap.store import Store
from assetmap.validate import validate_assets, validate_boundaries

log = logging.getLogger(__name__)

#: Options that change what a file's rows become; with the file's hash they key idempotence.
READ_OPTIONS = ("kind", "mapping", "category", "source", "vintage", "licence", "level",
                "code_field", "name_field", "variable")

Progress = Callable[[str], None]


@dataclass
class IngestResult:
    """What happened to one file."""

    path: str
    status: str  # completed | unchanged | refused
    ingest_id: int | None = None
    kind: str | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    message: str = ""
    reason_code: str | None = None
    affected_wards: list[str] = field(default_factory=list)
    assets_changed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class IngestError(Exception):
    """A file was refused; ``result`` says why."""

    def __init__(self, result: IngestResult) -> None:
        super().__init__(result.message)
        self.result = result


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def _options_key(options: dict[str, Any]) -> str:
    clean = {k: options[k] for k in READ_OPTIONS if options.get(k) not in (None, "", [], {})}
    if isinstance(clean.get("mapping"), list):
        clean["mapping"] = sorted(clean["mapping"])
    return json.dumps(clean, sort_keys=True)


# ---------------------------------------------------------------------------------------
# writers, one per kind; each runs inside the ingest's transaction
# ---------------------------------------------------------------------------------------
def _wards_of_areas(con: duckdb.DuckDBPyConnection, codes: list[str]) -> list[str]:
    if not codes:
        return []
    con.register("_codes", pd.DataFrame({"code": codes}))
    try:
        rows = con.execute(
            """
            SELECT DISTINCT w FROM (
                SELECT a.code AS w FROM areas a JOIN _codes c ON c.code = a.code WHERE a.level = 'ward'
                UNION ALL
                SELECT l.parent_code FROM area_lookup l JOIN _codes c ON c.code = l.area_code
                WHERE l.parent_level = 'ward'
            ) WHERE w IS NOT NULL ORDER BY w
            """
        ).fetchall()
    finally:
        con.unregister("_codes")
    return [r[0] for r in rows]


def _upsert_lookup(con: duckdb.DuckDBPyConnection, lookup: pd.DataFrame, ingest_id: int) -> None:
    con.register("_lk", lookup[["area_code", "parent_level", "parent_code"]])
    try:
        con.execute(
            """
            INSERT INTO area_lookup (area_code, parent_level, parent_code, method, ingest_id)
            SELECT DISTINCT ON (area_code, parent_level) area_code, parent_level, parent_code, 'file', ?
            FROM _lk
            ON CONFLICT (area_code, parent_level) DO UPDATE
                SET parent_code = excluded.parent_code, method = 'file', ingest_id = excluded.ingest_id
            """,
            [ingest_id],
        )
    finally:
        con.unregister("_lk")


def _write_boundaries(con, result, ingest_id, source, options):
    accepted, quarantine = validate_boundaries(result.frame)
    df = pd.DataFrame({
        "code": accepted["code"].to_numpy(), "name": accepted["name"].to_numpy(),
        "level": accepted["level"].to_numpy(), "vintage": accepted["vintage"].to_numpy(),
        "wkb": shapely.to_wkb(accepted.geometry.values),
    })
    con.register("_b", df)
    try:
        con.execute(
            """
            INSERT INTO areas (code, name, level, parent_code, vintage, geom, source, ingest_id)
            SELECT code, name, level, NULL, vintage, ST_GeomFromWKB(wkb), ?, ? FROM _b
            ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,
                vintage = excluded.vintage, geom = excluded.geom, source = excluded.source,
                ingest_id = excluded.ingest_id
            """,
            [source, ingest_id],
        )
    finally:
        con.unregister("_b")
    if result.lookup is not None and not result.lookup.empty:
        rank = {"oa": 0, "lsoa": 1, "msoa": 2, "ward": 3, "la": 4}
        lvl = dict(zip(df["code"], df["level"], strict=False))
        lk = result.lookup[result.lookup["area_code"].isin(lvl)]
        lk = lk[[rank[p] > rank[lvl[c]] for c, p in zip(lk["area_code"], lk["parent_level"], strict=False)]]
        if not lk.empty:
            _upsert_lookup(con, lk, ingest_id)
    geography.refresh_index(con, set(df["level"]))
    derived = geography.derive_best_fit(con, ingest_id)
    moved = geography.reassign_assets(con)
    wards = _wards_of_areas(con, df["code"].tolist())
    note = f"{len(df)} areas ({', '.join(sorted(set(df['level'])))})"
    if derived:
        note += "; best-fit lookups derived: " + ", ".join(f"{k} {v}" for k, v in derived.items())
    return len(df), quarantine, wards, moved, note


def _write_census(con, result, ingest_id, source, options):
    frame = result.frame
    if frame.empty:
        return 0, result.quarantine, [], 0, "no census rows accepted"
    df = frame[["area_code", "variable", "category", "count", "vintage"]]
    con.register("_c", df)
    try:
        # categories stored before for the same areas but absent now would double count: drop them
        con.execute(
            """
            DELETE FROM population p
            USING (SELECT DISTINCT area_code, variable, vintage FROM _c) k
            WHERE p.area_code = k.area_code AND p.variable = k.variable AND p.vintage = k.vintage
              AND NOT EXISTS (SELECT 1 FROM _c WHERE _c.area_code = p.area_code AND
                              _c.variable = p.variable AND _c.category = p.category AND
                              _c.vintage = p.vintage)
            """
        )
        con.execute(
            """
            INSERT INTO population (area_code, variable, category, count, vintage, source, ingest_id)
            SELECT area_code, variable, category, count, vintage, ?, ? FROM _c
            ON CONFLICT (area_code, variable, category, vintage) DO UPDATE
                SET count = excluded.count, source = excluded.source, ingest_id = excluded.ingest_id
            """,
            [source, ingest_id],
        )
    finally:
        con.unregister("_c")
    if result.lookup is not None and not result.lookup.empty:
        _upsert_lookup(con, result.lookup, ingest_id)
        geography.refresh_parent_codes(con)
    areas = frame["area_code"].unique().tolist()
    # census rows need no validation beyond the reader's: what it did not quarantine is stored
    accepted = result.rows_read - len(result.quarantine)
    variables = ", ".join(sorted(frame["variable"].unique()))
    return accepted, result.quarantine, _wards_of_areas(con, areas), 0, \
        f"{len(areas)} areas, {len(frame)} counts of {variables} ({result.meta.get('layout')}, " \
        f"vintage {result.meta.get('vintage')})"


def _write_lookup(con, result, ingest_id, source, options):
    frame = result.frame
    if not frame.empty:
        _upsert_lookup(con, frame, ingest_id)
        geography.refresh_parent_codes(con)
    moved = geography.reassign_assets(con)
    wards = sorted(frame.loc[frame["parent_level"] == "ward", "parent_code"].unique().tolist())
    return int(frame["row_number"].nunique()), result.quarantine, wards, moved, \
        f"{frame['area_code'].nunique()} areas looked up"


def _write_dispersal(con, result, ingest_id, source, options):
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
    return len(frame), result.quarantine, [], 0, \
        f"{frame['la_code'].nunique() if not frame.empty else 0} local authorities, " \
        f"periods {', '.join(periods) or 'none'}" + (f"; {n_sup} suppressed counts kept as suppressed"
                                                     if n_sup else "")


def _write_estimates(con, result, ingest_id, source, options):
    frame = result.frame
    if not frame.empty:
        con.register("_e", frame[["area_code", "area_name", "year", "residents"]])
        try:
            con.execute(
                """INSERT INTO population_estimates (area_code, area_name, year, residents, source, ingest_id)
                   SELECT area_code, area_name, year, residents, ?, ? FROM _e
                   ON CONFLICT (area_code, year) DO UPDATE
                   SET area_name = excluded.area_name, residents = excluded.residents,
                       source = excluded.source, ingest_id = excluded.ingest_id""",
                [source, ingest_id],
            )
        finally:
            con.unregister("_e")
    years = sorted({int(y) for y in frame["year"]}) if not frame.empty else []
    return len(frame), result.quarantine, [], 0, \
        f"population estimates for {frame['area_code'].nunique() if not frame.empty else 0} areas " \
        f"({', '.join(map(str, years)) or 'no year'})"


def _write_indices(con, result, ingest_id, source, options):
    frame = result.frame
    if not frame.empty:
        con.register("_i", frame[["ward_code", "focal_group", "index_name", "value", "ci_low", "ci_high"]])
        try:
            con.execute(
                """INSERT INTO partner_indices (source, ward_code, focal_group, index_name, value,
                                                ci_low, ci_high, ingest_id)
                   SELECT ?, ward_code, focal_group, index_name, value, ci_low, ci_high, ? FROM _i
                   ON CONFLICT (source, ward_code, focal_group, index_name) DO UPDATE
                   SET value = excluded.value, ci_low = excluded.ci_low, ci_high = excluded.ci_high,
                       ingest_id = excluded.ingest_id""",
                [source, ingest_id],
            )
        finally:
            con.unregister("_i")
    return len(frame), result.quarantine, [], 0, \
        f"{len(frame)} partner index values for {frame['ward_code'].nunique() if not frame.empty else 0} units"


def _write_postcodes(con, result, ingest_id, source, options):
    frame = result.frame
    if not frame.empty:
        con.register("_p", frame[["postcode", "x", "y"]])
        try:
            con.execute(
                """INSERT INTO postcodes (postcode, geom, ingest_id)
                   SELECT postcode, ST_Point(x, y), ? FROM _p
                   ON CONFLICT (postcode) DO UPDATE SET geom = excluded.geom, ingest_id = excluded.ingest_id""",
                [ingest_id],
            )
        finally:
            con.unregister("_p")
    return len(frame), result.quarantine, [], 0, f"{len(frame)} postcodes"


_ASSET_COLS = ["asset_id", "category", "subtype", "name", "name_key", "address", "postcode", "x", "y",
               "attrs", "sensitive", "source", "source_record_id", "licence", "observed_at",
               "oa_code", "ward_code"]


def _write_assets(con, result, ingest_id, source, options):
    accepted, quarantine = validate_assets(result.frame, con, source, options.get("licence"))
    quarantine = list(result.quarantine) + quarantine
    if accepted.empty:
        return 0, quarantine, [], 0, "no assets accepted"
    df = accepted[_ASSET_COLS].copy()
    df["observed_at"] = pd.to_datetime(df["observed_at"])
    con.register("_a", df)
    try:
        changed = con.execute(
            """
            SELECT n.asset_id, n.ward_code AS new_ward, o.ward_code AS old_ward
            FROM _a n LEFT JOIN assets o ON o.asset_id = n.asset_id
            WHERE o.asset_id IS NULL
               OR o.category IS DISTINCT FROM n.category OR o.subtype IS DISTINCT FROM n.subtype
               OR o.name IS DISTINCT FROM n.name OR o.address IS DISTINCT FROM n.address
               OR o.postcode IS DISTINCT FROM n.postcode OR o.attrs::VARCHAR IS DISTINCT FROM n.attrs
               OR o.sensitive IS DISTINCT FROM n.sensitive
               OR ST_X(o.geom) IS DISTINCT FROM n.x OR ST_Y(o.geom) IS DISTINCT FROM n.y
            """
        ).df()
        con.execute(
            """
            INSERT INTO assets (asset_id, category, subtype, name, name_key, address, postcode, geom,
                                attrs, sensitive, source, source_record_id, licence, observed_at,
                                ingest_id, oa_code, ward_code)
            SELECT asset_id, category, subtype, name, name_key, address, postcode, ST_Point(x, y),
                   attrs::JSON, sensitive, source, source_record_id, licence, observed_at, ?,
                   oa_code, ward_code
            FROM _a
            ON CONFLICT (asset_id) DO UPDATE SET
                category = excluded.category, subtype = excluded.subtype, name = excluded.name,
                name_key = excluded.name_key, address = excluded.address,
                postcode = excluded.postcode, geom = excluded.geom, attrs = excluded.attrs,
                sensitive = excluded.sensitive, source_record_id = excluded.source_record_id,
                licence = excluded.licence, observed_at = excluded.observed_at,
                ingest_id = excluded.ingest_id, oa_code = excluded.oa_code,
                ward_code = excluded.ward_code
            """,
            [ingest_id],
        )
    finally:
        con.unregister("_a")
    wards = sorted(set(pd.concat([changed["new_ward"], changed["old_ward"]]).dropna()))
    cats = accepted["category"].value_counts().to_dict()
    note = f"{len(accepted)} assets (" + ", ".join(f"{k} {v}" for k, v in sorted(cats.items())) + ")"
    return len(accepted), quarantine, wards, len(changed), note


_WRITERS = {"boundaries": _write_boundaries, "census": _write_census, "lookup": _write_lookup,
            "postcodes": _write_postcodes, "providers": _write_assets, "osm": _write_assets,
            "openreferral": _write_assets, "mapped": _write_assets, "dispersal": _write_dispersal,
            "estimates": _write_estimates,
            "indices": _write_indices}


# ---------------------------------------------------------------------------------------
# the ingest
# ---------------------------------------------------------------------------------------
def record_refusal(store: Store, path: str | Path, refusal: FileRefused, sha: str | None = None,
                   **options: Any) -> IngestResult:
    """Record a file refused before it could be read (a link, a pipe, too large...) as any
    refusal is recorded: in the audit tables, with the event, and nothing in the data tables."""
    return _refuse(store, str(path), sha, None, _options_key(options), refusal.reason_code,
                   refusal.message, _now())


def dependency_rank(path: str | Path, data: bytes, options: dict[str, Any] | None = None) -> int:
    """Where a file goes in a folder's order (see :func:`expand_paths`): boundaries 0 ... assets
    4; 9 for a file that will be refused."""
    try:
        return sources.DEPENDENCY_ORDER[sources.sniff(Path(path), data, options or {})]
    except FileRefused:
        return 9


def _refuse(store: Store, path: str, sha: str | None, kind: str | None, options_key: str,
            reason_code: str, message: str, started: _dt.datetime) -> IngestResult:
    """Record a refusal in the audit tables (not the data tables) and say why."""
    with store.transaction() as con:
        ingest_id = store.next_ingest_id()
        con.execute(
            """INSERT INTO ingests (ingest_id, path, sha256, kind, options, rows_read, rows_accepted,
                                    rows_quarantined, started_at, finished_at, status, message)
               VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?, 'refused', ?)""",
            [ingest_id, path, sha or "", kind, options_key, started, _now(), f"{reason_code}: {message}"],
        )
        payload = {"ingest_id": ingest_id, "path": path, "sha256": sha, "reason_code": reason_code,
                   "message": message}
        events.record(con, events.INGEST_FAILED, payload)
    events.emit(events.INGEST_FAILED, payload)
    log.warning("refused %s: %s", path, message)
    return IngestResult(path=path, status="refused", ingest_id=ingest_id, kind=kind, sha256=sha,
                        message=message, reason_code=reason_code)


def ingest_file(store: Store, path: str | Path, progress: Progress | None = None,
                data: bytes | None = None, label: str | None = None, **options: Any) -> IngestResult:
    """Ingest one file into ``store`` in one transaction.

    Parameters
    ----------
    store
        The open store (writable).
    path
        The file.
    progress
        Called with a short description of each stage.
    data
        The file's bytes when the caller has read them already (the inbox reads each file once,
        through its trust boundary); otherwise the file is read here.
    label
        The path to record and report (the inbox's name for a file it moved to a working
        folder); default ``path``.
    **options
        ``kind`` (skip sniffing), ``mapping`` (list of ``target=source`` for a foreign schema),
        ``category`` (default category), ``source`` (label; default: the file's stem),
        ``vintage``, ``licence``, ``level``, ``code_field``, ``name_field``, ``variable``.

    Returns
    -------
    IngestResult
        ``status`` is ``completed``, ``unchanged`` (the same bytes and options were taken
        before; nothing was written) or ``refused`` (nothing stored but the audit record).
    """
    say = progress or (lambda _msg: None)
    path = Path(path)
    spath = label or str(path)
    started = _now()
    okey = _options_key(options)
    sha: str | None = None
    kind: str | None = None
    try:
        say(f"reading {path.name}")
        if data is None:
            data = read_bytes(path, max_bytes=settings.max_bytes("any"))
        sha = sha256_bytes(data)
        prev = store.con.execute(
            "SELECT ingest_id FROM ingests WHERE sha256 = ? AND options = ? AND status = 'completed' "
            "ORDER BY ingest_id DESC LIMIT 1",
            [sha, okey],
        ).fetchone()
        if prev is not None:
            msg = f"already ingested as #{prev[0]}; nothing changed"
            log.info("%s: %s", spath, msg)
            return IngestResult(path=spath, status="unchanged", ingest_id=prev[0], sha256=sha, message=msg)
        # messages name the file as the user knows it; only a bare Shapefile is opened again
        # by its path (GDAL finds its sidecar files beside it)
        named = Path(label) if label and path.suffix.lower() != ".shp" else path
        kind = sources.sniff(named, data, options)
        if len(data) > settings.max_bytes(kind):
            raise FileRefused("too_large", f"{path.name}: {len(data):,} bytes, more than the "
                                           f"{settings.max_bytes(kind):,} a {kind} file may have "
                                           "(see settings)")
        result = sources.read(kind, named, data, options)
    except FileRefused as exc:
        return _refuse(store, spath, sha, kind, okey, exc.reason_code, exc.message, started)
    except MemoryError:
        raise
    except Exception as exc:  # a reader crashed on input it did not expect: refuse, keep the data
        # the detail goes to the log at DEBUG: an exception's text may quote the file's content
        log.debug("reader failed on %s", spath, exc_info=True)
        return _refuse(store, spath, sha, kind, okey, "unreadable",
                       f"{path.name}: cannot be read{f' as {kind}' if kind else ''} "
                       f"({type(exc).__name__}); run with -vv for the detail", started)

    source = options.get("source") or path.stem.split(".")[0]
    say(f"validating and storing {result.rows_read} rows as {kind}")
    try:
        with store.transaction() as con:
            ingest_id = store.next_ingest_id()
            con.execute(
                """INSERT INTO ingests (ingest_id, path, sha256, kind, options, started_at, status)
                   VALUES (?, ?, ?, ?, ?, ?, 'completed')""",
                [ingest_id, spath, sha, kind, okey, started],
            )
            accepted, quarantine, wards, changed, note = _WRITERS[kind](con, result, ingest_id, source, options)
            quarantined = len(quarantine)
            if accepted + quarantined != result.rows_read:
                raise RuntimeError(f"row conservation broken: read {result.rows_read}, accepted "
                                   f"{accepted}, quarantined {quarantined}")
            if quarantine:
                qdf = pd.DataFrame(quarantine)[["row_number", "raw", "reason_code", "message"]]
                con.register("_q", qdf)
                try:
                    con.execute(
                        "INSERT INTO quarantine (ingest_id, row_number, raw, reason_code, message) "
                        "SELECT ?, row_number, raw, reason_code, message FROM _q",
                        [ingest_id],
                    )
                finally:
                    con.unregister("_q")
            message = note + (f"; {quarantined} quarantined" if quarantined else "")
            con.execute(
                """UPDATE ingests SET rows_read = ?, rows_accepted = ?, rows_quarantined = ?,
                          finished_at = ?, message = ? WHERE ingest_id = ?""",
                [result.rows_read, accepted, quarantined, _now(), message, ingest_id],
            )
            completed = {"ingest_id": ingest_id, "path": spath, "kind": kind,
                         "rows_read": result.rows_read, "rows_accepted": accepted,
                         "rows_quarantined": quarantined, "affected_wards": wards}
            emitted = [(events.INGEST_COMPLETED, completed)]
            if changed:  # assets added, altered or moved to another ward
                emitted.append((events.ASSETS_CHANGED, {"ingest_id": ingest_id, "ward_codes": wards}))
            for name, payload in emitted:
                events.record(con, name, payload)
    except Exception as exc:
        log.exception("ingest of %s failed; rolled back", spath)
        return _refuse(store, spath, sha, kind, okey, "store_failed",
                       f"{path}: could not be stored, nothing was changed ({exc})", started)
    for name, payload in emitted:
        events.emit(name, payload)
    log.info("ingested %s as #%d: %s", spath, ingest_id, message)
    return IngestResult(path=spath, status="completed", ingest_id=ingest_id, kind=kind, sha256=sha,
                        rows_read=result.rows_read, rows_accepted=accepted,
                        rows_quarantined=quarantined, message=message, affected_wards=wards,
                        assets_changed=changed)


_NOT_DATA = {".md", ".txt", ".html", ".pdf"}
_NOT_DATA_NAMES = {"MANIFEST.json", "SOURCES.json"}


def expand_paths(paths: Iterable[str | Path], options: dict[str, Any] | None = None) -> list[Path]:
    """Files to ingest, folders expanded and taken in dependency order.

    Boundaries come first, then lookups, postcodes, census, and assets last, so that each file
    finds what it depends on. Hidden files and documentation are skipped.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not any(
                part.startswith(".") for part in f.relative_to(p).parts)
                and f.suffix.lower() not in _NOT_DATA and f.name not in _NOT_DATA_NAMES)
        else:
            files.append(p)
    if len(files) < 2:
        return files

    def rank(f: Path) -> tuple[int, str]:
        try:
            return dependency_rank(f, read_bytes(f, max_bytes=settings.max_bytes("any")), options), str(f)
        except FileRefused:
            return 9, str(f)

    return sorted(files, key=rank)


def ingest_paths(store: Store, paths: Iterable[str | Path], progress: Progress | None = None,
                 **options: Any) -> list[IngestResult]:
    """Ingest files and folders (see :func:`expand_paths`); one transaction per file."""
    return [ingest_file(store, f, progress=progress, **options) for f in expand_paths(paths, options)]
