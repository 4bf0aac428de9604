"""Community submissions: an asset proposed by a community group, pending until moderated.

A submission is a JSON object in the provider template's fields (``name, category, subtype,
address, postcode, lat, lon`` and the attributes; see README) plus, optionally,
``submitted_by`` (a contact for the moderator; never published). It arrives as a file in
``geodata/inbox/submissions/`` or from the dashboard's form and becomes a ``pending`` row of
``submissions``. :func:`approve` takes it through the same validation as any provider file
(one row, source ``community_submissions``, validated in memory), so an approved asset is placed, checked for
duplicates and audited like every other; :func:`reject` records the moderator's reason.
Pending rows never reach a published snapshot (see :mod:`assetmap.snapshots`).

The same payload submitted twice is the same submission (its id is a hash of the payload).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assetmap.db import submissions as sub_db
from assetmap.db.store import Store
from assetmap.errors import AssetmapError
from assetmap.ingest import IngestResult
from assetmap.settings import settings
from assetmap.sources._io import FileRefused, ReadResult, check_json_depth
from assetmap.vocab.categories import ATTRIBUTES, InvalidAttribute, check_link, normalise_category

SOURCE = "community_submissions"
LICENCE = "Submitted by the community to this assetmap instance"
FIELDS = ("name", "category", "subtype", "address", "postcode", "lat", "lon", "easting", "northing",
          *ATTRIBUTES)
PRIVATE = ("submitted_by",)
#: The most items a list field (languages, ESOL levels) may hold.
MAX_ITEMS = 100
#: How many unknown fields a refusal names.
_NAMED = 10


class SubmissionError(AssetmapError, ValueError):
    """A submission that cannot be taken, or a decision that cannot be made."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def _check_value(name: str, value: Any) -> None:
    """Check that a field holds text, a number, true/false or (``languages``, ``esol_levels``) a list of those.

    No text longer than ``settings.submission_max_chars``.
    """
    limit = settings.submission_max_chars
    items = value if isinstance(value, list) and name in ("languages", "esol_levels") else [value]
    if len(items) > MAX_ITEMS:
        msg = f"field {name!r} lists more than {MAX_ITEMS} items"
        raise SubmissionError(msg)
    for item in items:
        if item is not None and not isinstance(item, str | int | float | bool):
            msg = (f"field {name!r} must be text or a number, not a JSON "
                   f"{'list' if isinstance(item, list) else type(item).__name__}")
            raise SubmissionError(msg)
        if isinstance(item, str) and len(item) > limit:
            msg = f"field {name!r} is longer than {limit} characters"
            raise SubmissionError(msg)


def parse(payload: Any) -> dict[str, Any]:
    """Check a submission's shape; return its fields (unknown keys are refused, not dropped)."""
    if not isinstance(payload, dict):
        msg = "a submission is a JSON object of the provider template's fields"
        raise SubmissionError(msg)
    unknown = sorted(str(k)[:40] for k in set(payload) - set(FIELDS) - set(PRIVATE))
    if unknown:
        shown = ", ".join(unknown[:_NAMED]) + (f" and {len(unknown) - _NAMED} more" if len(unknown) > _NAMED else "")
        msg = f"unknown field(s): {shown}; allowed: {', '.join(FIELDS)}"
        raise SubmissionError(msg)
    for name, value in payload.items():
        _check_value(name, value)
    if not str(payload.get("name") or "").strip():
        msg = "a submission needs a name"
        raise SubmissionError(msg)
    if normalise_category(payload.get("category")) is None:
        msg = f"category {str(payload.get('category'))[:40]!r} is not one assetmap knows"
        raise SubmissionError(msg)
    if payload.get("website") not in (None, ""):
        try:  # a link's scheme is checked now: a javascript: "website" never waits for a moderator
            check_link(payload["website"])
        except InvalidAttribute as exc:
            raise SubmissionError(str(exc)) from None
    return {k: v for k, v in payload.items() if v is not None}


def _canonical(fields: dict[str, Any]) -> tuple[str, str]:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return "sub-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12], canonical


def submit(store: Store, payload: Any, source_path: str | None = None) -> str:
    """Record a pending submission; return its id (the same payload gives the same id)."""
    sid, canonical = _canonical(parse(payload))
    with store.transaction() as con:
        sub_db.add(con, sid, canonical, source_path, _now())
    return sid


def to_inbox(payload: Any, inbox: str | Path) -> tuple[str, Path]:
    """Check a submission and drop it into ``inbox/submissions/`` for the pipeline to take.

    The file appears whole (written beside it under a hidden name, then renamed), is named by
    the submission's id (so the same payload twice is one file) and becomes a pending row when
    the pipeline's watcher hands it on. Returns ``(submission_id, path)``.
    """
    fields = parse(payload)
    sid, _canonical_text = _canonical(fields)
    folder = Path(inbox) / "submissions"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{sid}.json"
    tmp = folder / f".{sid}.json.part"
    tmp.write_text(json.dumps(fields, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, final)
    return sid, final


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        msg = f"field(s) given twice: {', '.join(k[:40] for k in twice[:10])}"
        raise SubmissionError(msg)
    return dict(pairs)


def load(data: bytes, name: str) -> Any:
    """Return a submission's JSON, checked before it is parsed.

    No larger than ``settings.max_file_mb['submission']``, nested no deeper than
    ``settings.max_json_depth['submission']``, UTF-8, and no field given twice.
    """
    limit = settings.max_bytes("submission")
    if len(data) > limit:
        msg = f"{name}: {len(data):,} bytes; a submission may have {limit:,}"
        raise SubmissionError(msg)
    try:
        check_json_depth(data, name, settings.max_json_depth["submission"])
        text = data.decode("utf-8-sig")
        return json.loads(text, object_pairs_hook=_unique_keys)
    except FileRefused as exc:
        raise SubmissionError(exc.message) from None
    except UnicodeDecodeError:
        msg = f"{name}: not UTF-8 text"
        raise SubmissionError(msg) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        msg = f"{name}: not valid JSON ({msg})"
        raise SubmissionError(msg) from None


def submit_bytes(store: Store, data: bytes, source_path: str) -> str:
    """Return a submission from a file's bytes (the pipeline reads each file once, through the inbox's trust boundary).

    :class:`SubmissionError` for anything that is not a valid submission.
    """
    return submit(store, load(data, Path(source_path).name), source_path)


def list_submissions(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """Every submission (of ``status``, when given) in the order they came, its payload parsed."""
    return [{**d, "payload": json.loads(d["payload"])} for d in sub_db.listed(store.con, status)]


def _get(store: Store, submission_id: str) -> tuple[str, dict[str, Any]]:
    row = sub_db.status_and_payload(store.con, submission_id)
    if row is None:
        msg = f"no submission {submission_id!r}"
        raise SubmissionError(msg)
    return row[0], json.loads(row[1])


@dataclass
class Decision:
    """What approving a submission did: the ingest that stored it, and what followed."""

    submission_id: str
    ingest: IngestResult
    asset_id: str | None
    recomputed_units: int = 0
    snapshot_id: str | None = None


def approve(store: Store, submission_id: str, *, publish: bool = True) -> Decision:
    """Validate the submitted asset in memory and store it with the decision in one transaction.

    Then recompute the units it reaches and (``publish``) publish a snapshot. The CLI and the dashboard both
    come here.

    Raises :class:`SubmissionError`, leaving the submission pending and nothing stored, when it is
    not pending or the asset does not pass validation (the reason is the quarantine's): the
    moderator can reject it or ask for a correction.
    """
    from assetmap.analysis import recompute_affected
    from assetmap.ingest import Declined, Origin, store_rows
    from assetmap.snapshots import publish as publish_snapshot
    from assetmap.sources._assets import candidate, frame

    status, payload = _get(store, submission_id)
    if status != "pending":
        msg = f"{submission_id} is already {status}"
        raise SubmissionError(msg)
    fields = {f: _cell(payload[f]) for f in FIELDS if f in payload}
    row = candidate(1, {"id": submission_id, **fields}, source_record_id=submission_id, **fields)
    result = ReadResult("providers", frame([row]), [], 1, {"encoding": "utf-8"})
    decided: dict[str, Any] = {}

    def decide(con: Any, ingest_id: int, written: Any) -> None:
        if written.accepted != 1:
            why = written.quarantine[0]["message"] if written.quarantine else "not stored"
            msg = f"{submission_id} does not pass validation: {why}"
            raise Declined(msg)
        decided["asset_id"] = sub_db.asset_of(con, SOURCE, submission_id)
        sub_db.approved(con, submission_id, decided["asset_id"], _now())

    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    try:
        ingest = store_rows(store, result, Origin(f"submission:{submission_id}", digest, "providers", SOURCE),
                            {"licence": LICENCE}, also=decide)
    except Declined as exc:
        raise SubmissionError(str(exc)) from None
    if ingest.status != "completed":
        msg = f"{submission_id} could not be stored: {ingest.message}"
        raise SubmissionError(msg)
    decision = Decision(submission_id, ingest, decided.get("asset_id"))
    if ingest.affected_wards:
        decision.recomputed_units = recompute_affected(store, ingest.affected_wards).units
    if publish:
        decision.snapshot_id = publish_snapshot(store, reason=f"submission {submission_id} approved").snapshot_id
    return decision


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


def reject(store: Store, submission_id: str, reason: str) -> None:
    """Record the moderator's decision and reason; nothing is stored as an asset."""
    if not (reason or "").strip():
        msg = "a rejection needs a reason"
        raise SubmissionError(msg)
    status, _ = _get(store, submission_id)
    if status != "pending":
        msg = f"{submission_id} is already {status}"
        raise SubmissionError(msg)
    with store.transaction() as con:
        sub_db.rejected(con, submission_id, reason.strip(), _now())
