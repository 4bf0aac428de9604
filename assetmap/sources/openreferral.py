"""Open Referral UK (HSDS) JSON: services at locations, as UK service directories publish them.

Accepts a package with top-level ``services`` (and optionally ``organizations``,
``locations``, ``service_at_locations`` as flat tables), an API page (``content``: [...]), or a
plain list of services. Each service at each of its locations is one row. The category comes
from ``--category`` or from the service's taxonomy terms, name and description.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from assetmap.sources._assets import candidate, frame, write_assets
from assetmap.sources._io import FileRefused, ReadResult, load_json
from assetmap.sources.registry import Reader
from assetmap.vocab.categories import CATEGORIES

KIND = "openreferral"

_RULES = [
    (re.compile(r"\besol\b|english (language|class|lesson|conversation)|english for speakers", re.I), "esol_provider"),
    (re.compile(r"refugee|asylum|migrant|sanctuary|immigration advice", re.I), "refugee_support"),
    (re.compile(r"place of worship|church|mosque|gurdwara|mandir|synagogue|temple", re.I), "place_of_worship"),
    (re.compile(r"community (centre|center|hub|hall)|welcome space|warm space", re.I), "community_centre"),
]


def looks_like_openreferral(doc: Any) -> bool:
    services = _services(doc)
    if not services:
        return False
    s = services[0]
    return isinstance(s, dict) and "name" in s and any(
        k in s for k in ("service_at_locations", "organization", "organization_id", "status", "taxonomies",
                         "service_taxonomys"))


def _services(doc: Any) -> list | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ("services", "content", "items"):
            if isinstance(doc.get(key), list):
                return doc[key]
    return None


def _category(service: dict) -> str | None:
    for t in service.get("service_taxonomys") or service.get("taxonomies") or []:
        term = (t.get("taxonomy") or t) if isinstance(t, dict) else {}
        if isinstance(term, dict) and term.get("vocabulary") == "assetmap" and term.get("id") in CATEGORIES:
            return str(term["id"])  # assetmap's own export says exactly
    terms = []
    for key in ("taxonomies", "service_taxonomys"):
        for t in service.get(key) or []:
            if isinstance(t, dict):
                terms.append(str((t.get("taxonomy") or t).get("name", "")))
    for text in (" ".join(terms), str(service.get("name", "")), str(service.get("description", ""))):
        for pattern, category in _RULES:
            if pattern.search(text):
                return category
    return None


def _address(loc: dict) -> tuple[str | None, str | None]:
    addrs = loc.get("physical_addresses") or loc.get("addresses") or []
    if isinstance(addrs, dict):
        addrs = [addrs]
    for a in addrs:
        if isinstance(a, dict):
            parts = [a.get(k) for k in ("address_1", "address_2", "city", "state_province")]
            return ", ".join(str(p) for p in parts if p) or None, a.get("postal_code")
    return None, None


def _cost(service: dict) -> str | None:
    opts = service.get("cost_options") or []
    if not opts:
        fees = service.get("fees")
        return None if fees is None else ("free" if str(fees).strip().lower() in {"free", "0", "none"} else "fee")
    opts = [o for o in opts if isinstance(o, dict)]
    amounts = [o.get("amount") for o in opts]
    if any(a not in (0, "0", None, "") for a in amounts):
        return "fee"
    said_free = any("free" in str(o.get("option") or "").lower() for o in opts)
    return "free" if said_free or (amounts and all(a in (0, "0") for a in amounts)) else "fee"


def read(path: str | Path, data: bytes, options: dict[str, Any]) -> ReadResult:
    path = Path(path)
    doc = load_json(data, path)
    services = _services(doc)
    if services is None:
        raise FileRefused("unknown_format", f"{path}: no services found (not Open Referral UK JSON)")
    flat_locations = {}
    flat_links: dict[str, list[str]] = {}
    if isinstance(doc, dict):
        flat_locations = {str(loc.get("id")): loc for loc in doc.get("locations") or [] if isinstance(loc, dict)}
        for link in doc.get("service_at_locations") or []:
            if isinstance(link, dict):
                flat_links.setdefault(str(link.get("service_id")), []).append(str(link.get("location_id")))
    rows = []
    i = 0
    for service in services:
        if not isinstance(service, dict):
            i += 1
            rows.append(candidate(i, service, reason="malformed_row",
                                  message=f"service {i}: not a JSON object"))
            continue
        sid = str(service.get("id") or "")
        locations = []
        for link in service.get("service_at_locations") or []:
            if isinstance(link, dict):
                loc = link.get("location") or flat_locations.get(str(link.get("location_id")))
                if isinstance(loc, dict):
                    locations.append(loc)
        locations += [flat_locations[lid] for lid in flat_links.get(sid, []) if lid in flat_locations]
        # a package may give a location both nested in its service and in the flat tables: once each
        unique: dict[str, dict] = {}
        for n, loc in enumerate(locations):
            unique.setdefault(str(loc["id"]) if loc.get("id") is not None else f"#{n}", loc)
        locations = list(unique.values())
        if not locations:
            locations = [{}]
        category = options.get("category") or _category(service)
        languages = [lang.get("language") if isinstance(lang, dict) else lang
                     for lang in service.get("languages") or []]
        ext: dict[str, Any] = service["assetmap"] if isinstance(service.get("assetmap"), dict) else {}
        for loc in locations:
            i += 1
            address, postcode = _address(loc)
            rid = f"{sid}@{loc.get('id')}" if loc.get("id") is not None else (sid or None)
            if ext.get("source_record_id") and len(locations) == 1:
                rid = str(ext["source_record_id"])  # assetmap's own export: the record's id as it was
            org = service.get("organization") or {}
            rec = candidate(
                i, {"service": service.get("id"), "name": service.get("name"), "location": loc},
                name=service.get("name"), category=category, address=address, postcode=postcode,
                lat=loc.get("latitude"), lon=loc.get("longitude"), source_record_id=rid,
                website=service.get("url") or (org.get("url") if isinstance(org, dict) else None),
                description=service.get("description"), cost=_cost(service), status=service.get("status"),
                languages=[lang for lang in languages if lang] or None,
                licence=options.get("licence"), attrs=ext.get("attrs") if isinstance(ext.get("attrs"), dict) else None,
                subtype=ext.get("subtype"), sensitive=ext.get("sensitive"),
            )
            if category is None:
                rec["reason"] = "unknown_category"
                rec["message"] = (f"service {sid or i} ({service.get('name')!r}): no taxonomy term, name or "
                                  "description says what it is; give --category")
            rows.append(rec)
    return ReadResult(KIND, frame(rows), [], i, {})


READER = Reader(
    KIND, "Open Referral UK (HSDS) JSON", read, write_assets, tables=("assets", "asset_versions"), rank=4,
    holds_assets=True, json=lambda doc, _options: looks_like_openreferral(doc))
