"""Open Referral UK out: the assets as an HSDS / Open Referral UK JSON package, and its check.

What a partnership curates here (moderated submissions included) flows back into the council's
and the NHS's service directories. The package holds:

- ``organizations``: one per source (the provider file, feed or submission channel), with a UUID
  made from its name, as Open Referral UK requires;
- ``services``: one per site, each whole as the Open Referral UK API serves it (its
  ``organization``, ``status``, ``url``, ``languages``, ``cost_options``, its category as a
  ``service_taxonomys`` term of the ``assetmap`` vocabulary, and ``service_at_locations`` with
  each ``location``); an ``assetmap`` extension object keeps what HSDS has no field for
  (subtype, attributes such as capacity or ESOL levels, the sensitive flag, the source's record id);
- ``locations`` and ``service_at_locations``: the same, as flat tables.

Every service, organization and location is validated against Open Referral UK's JSON Schemas
(:data:`SCHEMAS`, kept in ``assetmap/schemas/oruk``) before anything is written. The package reads
back through :mod:`assetmap.sources.openreferral`: exporting and ingesting into an empty store
gives the same sites. In public mode sensitive sites are left out.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from assetmap.store import Store
from assetmap.vocab.categories import CATEGORY_LABELS

SCHEMAS = Path(__file__).resolve().parent / "schemas" / "oruk"
_NS = uuid.UUID("6f1c2a54-2d0e-4c59-9f3e-0a55e7a1d201")  # assetmap's namespace for the ids it makes
#: attributes that have their own HSDS fields (the rest go into the ``assetmap`` extension)
_HSDS_ATTRS = ("website", "description", "cost", "languages")


class InvalidExport(ValueError):
    """What was about to be written does not meet the Open Referral UK schema."""


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _text(value: Any) -> str | None:
    """A value as text; None for a missing one (SQL NULL reaches pandas as None or NaN)."""
    return None if value is None or (isinstance(value, float) and value != value) or str(value) == "" else str(value)


def _url(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else None


def document(store: Store, partner: bool = False) -> dict[str, Any]:
    """The assets as an Open Referral UK package (sensitive sites only for ``partner``)."""
    df = store.con.execute(
        """SELECT asset_id, category, subtype, name, address, postcode, attrs::VARCHAR AS attrs, sensitive, source,
                  source_record_id, licence, observed_at,
                  ST_Y(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lat,
                  ST_X(ST_Transform(geom, 'EPSG:27700', 'EPSG:4326', always_xy := true)) AS lon
           FROM assets WHERE ? OR NOT sensitive ORDER BY asset_id""", [partner]).df()
    organizations: dict[str, dict[str, Any]] = {}
    services, locations, links = [], [], []
    for r in df.itertuples():
        attrs = json.loads(r.attrs) if isinstance(r.attrs, str) else {}
        org_id = _id("organization", r.source)
        org = organizations.setdefault(org_id, {
            "id": org_id, "name": r.source,
            "description": f"Sites listed by {r.source}, as held by assetmap"
                           + (f" ({_text(r.licence)})" if _text(r.licence) else ""),
        })
        sid, lid = _id("service", r.asset_id), _id("location", r.asset_id)
        location: dict[str, Any] = {"id": lid, "name": r.name, "latitude": round(float(r.lat), 7),
                                    "longitude": round(float(r.lon), 7)}
        address, postcode = _text(r.address), _text(r.postcode)
        if address or postcode:
            location["physical_addresses"] = [{"id": _id("address", r.asset_id), "location_id": lid,
                                               "address_1": address or "", "postal_code": postcode or "",
                                               "country": "GB"}]
        service: dict[str, Any] = {
            "id": sid, "organization": dict(org), "name": r.name, "status": "active",
            "service_taxonomys": [{"id": _id("taxonomy", r.asset_id), "taxonomy": {
                "id": r.category, "name": CATEGORY_LABELS.get(r.category, r.category), "vocabulary": "assetmap"}}],
            "service_at_locations": [{"id": _id("sal", r.asset_id), "location": location}],
            "assetmap": {"asset_id": r.asset_id, "subtype": _text(r.subtype), "sensitive": bool(r.sensitive),
                         "source_record_id": _text(r.source_record_id),
                         # a website that is not a URL HSDS takes stays here, with what HSDS has no field for
                         "attrs": {k: v for k, v in attrs.items() if k not in _HSDS_ATTRS
                                   or (k == "website" and not _url(v))}},
        }
        if attrs.get("description"):
            service["description"] = str(attrs["description"])
        if url := _url(attrs.get("website")):
            service["url"] = url
        if attrs.get("languages"):
            service["languages"] = [{"id": _id("language", r.asset_id, str(lang)), "language": str(lang)}
                                    for lang in attrs["languages"]]
        if attrs.get("cost") in ("free", "fee"):
            free = attrs["cost"] == "free"
            service["cost_options"] = [{"id": _id("cost", r.asset_id), "amount": 0 if free else None,
                                        "option": "Free" if free else "A fee is charged"}]
        if r.observed_at is not None and not pd.isna(r.observed_at):
            service["assured_date"] = pd.Timestamp(r.observed_at).date().isoformat()
        services.append(service)
        locations.append(location)
        links.append({"id": _id("sal", r.asset_id), "service_id": sid, "location_id": lid})
    doc = {"generator": "assetmap", "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
           "organizations": list(organizations.values()), "services": services, "locations": locations,
           "service_at_locations": links}
    validate(doc)
    return doc


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft7Validator

    return {name: Draft7Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8")),
                                  format_checker=Draft7Validator.FORMAT_CHECKER)
            for name in ("service", "organization", "location")}


def problems(doc: dict[str, Any], limit: int = 10) -> list[str]:
    """What in ``doc`` breaks Open Referral UK's schemas (at most ``limit``), or nothing."""
    checks = _validators()
    out: list[str] = []
    for table, schema in (("services", "service"), ("organizations", "organization"), ("locations", "location")):
        for i, item in enumerate(doc.get(table) or []):
            for err in checks[schema].iter_errors(item):
                where = "/".join(str(p) for p in err.absolute_path)
                out.append(f"{table}[{i}]{'/' + where if where else ''}: {err.message}")
                if len(out) >= limit:
                    return out
    return out


def validate(doc: dict[str, Any]) -> None:
    """Raise :class:`InvalidExport` naming what breaks the schema."""
    found = problems(doc)
    if found:
        raise InvalidExport("the Open Referral UK export does not meet the schema: " + "; ".join(found))
