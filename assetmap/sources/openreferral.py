"""Open Referral UK (HSDS) JSON: services at locations, as UK service directories publish them.

Both shapes UK directories publish are read:

- **ORUK 3.0** (the uk-profile): an API list page (its items under ``contents``) of services or
  of services at locations (``{"id", "service", "location"}``), one full service, one service at
  a location, or an organisation with its ``services``. Locations come nested in
  ``service_at_locations[].location``, with ``addresses``; taxonomy terms come under
  ``attributes[].taxonomy_term``.
- **v1 (2019-20)**: a package with top-level ``services`` (and optionally ``organizations``,
  ``locations``, ``service_at_locations`` as flat tables), an API page (``content``), or a plain
  list of services.

Each service at each of its locations is one row; a service listed without a location (a 3.0
service list page holds none) is quarantined as having no place. The category comes from
``--category`` or from the service's taxonomy terms, name and description.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from assetmap.openreferral import service_problems
from assetmap.settings import settings
from assetmap.sources._assets import candidate, frame, write_assets
from assetmap.sources._io import FileRefused, ReadResult, load_json
from assetmap.sources.registry import Reader
from assetmap.vocab.categories import CATEGORIES
from assetmap.vocab.file_kinds import KINDS

KIND = "openreferral"

_RULES = [
    (re.compile(r"\besol\b|english (language|class|lesson|conversation)|english for speakers", re.I), "esol_provider"),
    (re.compile(r"refugee|asylum|migrant|sanctuary|immigration advice", re.I), "refugee_support"),
    (re.compile(r"place of worship|church|mosque|gurdwara|mandir|synagogue|temple", re.I), "place_of_worship"),
    (re.compile(r"community (centre|center|hub|hall)|welcome space|warm space", re.I), "community_centre"),
]


def looks_like_openreferral(doc: Any) -> bool:
    """Whether a header (or document) is this reader's format."""
    if _is_details(doc) or _is_single_other(doc):
        return True  # the API's details, one organisation, taxonomy or term: read, and nothing to place
    if isinstance(doc, dict) and isinstance(doc.get("contents"), list) and doc["contents"] and any(
            k in doc for k in ("total_items", "total_pages", "page_number")):
        # a 3.0 API's list page: its services however broken (each is checked on its own), or its
        # organisations and taxonomies (refused by the reader, saying there is no place in them)
        return True
    services = _services(doc)
    if not services:
        return False
    s = services[0]
    return isinstance(s, dict) and "name" in s and any(
        k in s for k in ("service_at_locations", "organization", "organization_id", "status", "taxonomies",
                         "service_taxonomys", "attributes"))


def _is_service_at_location(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("service"), dict) and "location" in item


def _as_service(item: Any) -> Any:
    """Return a 3.0 service at a location as a service holding that one location (else the item as is)."""
    if not _is_service_at_location(item):
        return item
    return {**item["service"], "service_at_locations": [{"id": item.get("id"), "location": item["location"]}]}


_ORGANISATION_KEYS = ("logo", "organization_identifiers", "parent_organization_id", "website")


_TAXONOMY_KEYS = ("taxonomy_terms", "term_uri", "term", "vocabulary", "version")
_SERVICE_KEYS = ("service_at_locations", "organization", "organization_id", "status", "fees", "cost_options",
                 "attributes", "service_taxonomys", "taxonomies")


_V1_KEYS = ("service_taxonomys", "taxonomies", "regular_schedules", "holiday_schedules")


def _is_v3(service: dict[str, Any]) -> bool:
    """Whether a service is in 3.0's shape (then it is checked against 3.0's schema).

    3.0's ``attributes``, a location's ``location_type`` or ``addresses``, and none of v1's own keys.
    """
    if any(k in service for k in _V1_KEYS):
        return False
    locations = [sal.get("location") for sal in service.get("service_at_locations") or [] if isinstance(sal, dict)]
    return "attributes" in service or any(
        isinstance(loc, dict) and ("location_type" in loc or "addresses" in loc) for loc in locations)


def _is_details(doc: Any) -> bool:
    """Return the answer of a 3.0 API's root (``/``): its version, profile and OpenAPI address."""
    return isinstance(doc, dict) and "openapi_url" in doc and "version" in doc


def _is_single_other(doc: Any) -> bool:
    """One 3.0 organisation, taxonomy or taxonomy term, as the API's ``/{kind}/{id}`` gives it.

    An ``id`` and a ``name``, and the keys only they have (``version`` alone is too common).
    """
    own = ("taxonomy_terms", "term_uri", "parent_id", "organization_identifiers", "parent_organization_id", "logo")
    return isinstance(doc, dict) and "id" in doc and "name" in doc and _is_other(doc) and any(k in doc for k in own)


def _is_organisation(item: Any) -> bool:
    return isinstance(item, dict) and not any(k in item for k in _SERVICE_KEYS) and \
        any(k in item for k in _ORGANISATION_KEYS)


def _is_other(item: Any) -> bool:
    """Return an organisation or a taxonomy (or its term): listed beside services, but none of them."""
    return _is_organisation(item) or (isinstance(item, dict) and not any(k in item for k in _SERVICE_KEYS)
                                      and any(k in item for k in _TAXONOMY_KEYS))


def _services(doc: Any) -> list[Any] | None:
    items = None
    if isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict):
        if _is_organisation(doc) and isinstance(doc.get("services"), list):  # 3.0's /organizations/{id}
            org = {k: v for k, v in doc.items() if k != "services"}
            return [{"organization": org, **s} if isinstance(s, dict) else s for s in doc["services"]]
        for key in ("services", "contents", "content", "items"):  # 3.0 list pages: contents
            if isinstance(doc.get(key), list):
                items = doc[key]
                break
        else:
            if _is_service_at_location(doc):
                items = [doc]
            elif "name" in doc and any(k in doc for k in ("service_at_locations", "organization", "attributes",
                                                           "cost_options", "schedules")):
                items = [doc]  # one full service (3.0's /services/{id})
    if items and all(_is_other(item) for item in items):
        return None  # a list of organisations or taxonomies names no service and no place
    return None if items is None else [_as_service(item) for item in items]


def _terms(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the service's taxonomy terms, from v1 and 3.0 alike.

    Return the service's taxonomy terms, v1 (``service_taxonomys``, ``taxonomies``) and 3.0
    (``attributes[].taxonomy_term``, ``taxonomy_terms``) alike.
    """
    out: list[dict[str, Any]] = []
    for key in ("service_taxonomys", "taxonomies", "taxonomy_terms"):
        for t in service.get(key) or []:
            if isinstance(t, dict):
                inner = t.get("taxonomy")
                out.append(inner if isinstance(inner, dict) else t)
    for a in service.get("attributes") or []:
        if isinstance(a, dict) and isinstance(a.get("taxonomy_term"), dict):
            out.append(a["taxonomy_term"])
    return out


def _category(service: dict[str, Any]) -> str | None:
    terms = _terms(service)
    for term in terms:
        if term.get("vocabulary") == "assetmap" and term.get("id") in CATEGORIES:
            return str(term["id"])  # assetmap's own v1 export says exactly
        if term.get("taxonomy") == "assetmap" and term.get("term") in CATEGORIES:
            return str(term["term"])  # and its 3.0 export
    mapped = settings.openreferral_terms
    for term in terms:
        for key in ("name", "term", "code"):
            category = mapped.get(str(term.get(key) or "").strip().casefold())
            if category in CATEGORIES:
                return category
    words = " ".join(str(term.get(k) or "") for term in terms for k in ("name", "term", "description"))
    for text in (words, str(service.get("name", "")), str(service.get("description", ""))):
        for pattern, category in _RULES:
            if pattern.search(text):
                return category
    return None


def _address(loc: dict[str, Any]) -> tuple[str | None, str | None]:
    addrs = loc.get("physical_addresses") or loc.get("addresses") or []
    if isinstance(addrs, dict):
        addrs = [addrs]
    # a place's physical address before a postal one (3.0 gives each its address_type)
    addrs = sorted((a for a in addrs if isinstance(a, dict)), key=lambda a: a.get("address_type") == "postal")
    for a in addrs:
        parts = [a.get(k) for k in ("address_1", "address_2", "city", "state_province")]
        return ", ".join(str(p) for p in parts if p) or None, a.get("postal_code")
    return None, None


def _hours(*holders: Any) -> str | None:
    """Return the opening hours in words from 3.0's ``schedules``.

    Return the opening hours in words from 3.0's ``schedules`` (of the service at the location, the location,
    then the service: the first that has any): each schedule's description, else its days and times (``TH,FR
    10:00-18:00``).
    """
    for holder in holders:
        said = []
        for sch in (holder.get("schedules") or []) if isinstance(holder, dict) else []:
            if not isinstance(sch, dict):
                continue
            if sch.get("description"):
                said.append(str(sch["description"]).strip())
                continue
            times = "-".join(str(sch[k])[:5] for k in ("opens_at", "closes_at") if sch.get(k))
            said.append(" ".join(str(p) for p in (sch.get("byday"), times) if p))
        said = [x for x in said if x]
        if said:
            return "; ".join(dict.fromkeys(said))
    return None


def _cost(service: dict[str, Any]) -> str | None:
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
    """Read a file of this kind into rows and quarantine (nothing is stored here)."""
    path = Path(path)
    doc = load_json(data, path)
    services = _services(doc)
    if services is None:
        return _placeless(doc, path)
    page_3 = isinstance(doc, dict) and isinstance(doc.get("contents"), list)  # a 3.0 API's list page
    flat_locations, flat_links = _flat_tables(doc)
    rows: list[dict[str, Any]] = []
    for service in services:
        if not isinstance(service, dict):
            n = len(rows) + 1
            rows.append(candidate(n, service, reason="malformed_row", message=f"service {n}: not a JSON object"))
            continue
        locations, hours_at = _locations_of(service, flat_locations, flat_links)
        rows += _service_rows(service, len(rows), locations, hours_at, options, page_3)
    return ReadResult(KIND, frame(rows), [], len(rows), {})


def _placeless(doc: Any, path: Path) -> ReadResult:
    """Read a document with no service.

    A response of the standard that holds none is taken (nothing to load); anything else is refused.
    """
    listed = doc.get("contents") if isinstance(doc, dict) else doc
    placeless = _is_details(doc) or _is_single_other(doc) or (
        isinstance(listed, list) and bool(listed) and all(_is_other(item) for item in listed))
    if not placeless:
        raise FileRefused("unknown_format", f"{path}: no services found, so no places to load (Open Referral UK: "
                          "give a services or services-at-locations list, a service, or an organisation "
                          "with its services)")
    items = listed if isinstance(listed, list) and not _is_details(doc) else [doc]
    broken = [(f"{item['id']}: " if "id" in item else "") + line for item in items if isinstance(item, dict)
              for line in service_problems(item, schema="details3" if _is_details(doc) else "term3")
              if "term_uri" in item or _is_details(doc)]
    if broken:
        raise FileRefused("schema_violation", f"{path}: breaks Open Referral UK 3.0's schema: "
                          + "; ".join(broken[:3]))
    what = ("the API's details" if _is_details(doc) else
            "an organisation or a taxonomy" if _is_single_other(doc) else "organisations or taxonomies only")
    return ReadResult(KIND, frame([]), [], 0, {"note": f"Open Referral UK: {what}, no service and no "
                                                       "place in it: nothing to load"})


def _flat_tables(doc: Any) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Return a package's flat tables: its locations by id, and each service's location ids."""
    flat_locations: dict[str, dict[str, Any]] = {}
    flat_links: dict[str, list[str]] = {}
    if isinstance(doc, dict):
        flat_locations = {str(loc.get("id")): loc for loc in doc.get("locations") or [] if isinstance(loc, dict)}
        for link in doc.get("service_at_locations") or []:
            if isinstance(link, dict):
                flat_links.setdefault(str(link.get("service_id")), []).append(str(link.get("location_id")))
    return flat_locations, flat_links


def _locations_of(service: dict[str, Any], flat_locations: dict[str, dict[str, Any]],
                  flat_links: dict[str, list[str]]) -> tuple[list[dict[str, Any]], dict[int, str | None]]:
    """Return a service's locations and each one's hours.

    Return a service's locations (nested or in the flat tables, once each; one empty when it has none), and each
    one's hours as its link or it says (by ``id`` of the location).
    """
    sid = str(service.get("id") or "")
    locations = []
    hours_at: dict[int, str | None] = {}
    for link in service.get("service_at_locations") or []:
        if isinstance(link, dict):
            loc = link.get("location") or flat_locations.get(str(link.get("location_id")))
            if isinstance(loc, dict):
                locations.append(loc)
                hours_at[id(loc)] = _hours(link, loc, service)
    locations += [flat_locations[lid] for lid in flat_links.get(sid, []) if lid in flat_locations]
    # a package may give a location both nested in its service and in the flat tables: once each
    unique: dict[str, dict[str, Any]] = {}
    for n, loc in enumerate(locations):
        unique.setdefault(str(loc["id"]) if loc.get("id") is not None else f"#{n}", loc)
    return list(unique.values()) or [{}], hours_at


def _service_rows(service: dict[str, Any], i: int, locations: list[dict[str, Any]], hours_at: dict[int, str | None],
                  options: dict[str, Any], page_3: bool) -> list[dict[str, Any]]:
    """Return a service's candidate rows, one per location, numbered after row ``i``."""
    sid = str(service.get("id") or "")
    category = options.get("category") or _category(service)
    # v1 {"language": "Arabic"}; 3.0 {"name": "Arabic", "code": "ar"}
    languages = [(lang.get("language") or lang.get("name") or lang.get("code")) if isinstance(lang, dict)
                 else lang for lang in service.get("languages") or []]
    ext: dict[str, Any] = service["assetmap"] if isinstance(service.get("assetmap"), dict) else {}
    broken = service_problems(service) if page_3 or _is_v3(service) else []
    org = service.get("organization") or {}
    rows = []
    for loc in locations:
        i += 1
        address, postcode = _address(loc)
        rid = f"{sid}@{loc.get('id')}" if loc.get("id") is not None else (sid or None)
        if ext.get("source_record_id") and len(locations) == 1:
            rid = str(ext["source_record_id"])  # assetmap's own export: the record's id as it was
        if "address" in ext and len(locations) == 1:
            address = ext["address"]  # and its address as its source wrote it
        hours = hours_at.get(id(loc)) or _hours(loc, service)
        rec = candidate(
            i, {"service": service.get("id"), "name": service.get("name"), "location": loc},
            name=service.get("name"), category=category, address=address, postcode=postcode,
            lat=loc.get("latitude"), lon=loc.get("longitude"), source_record_id=rid,
            website=service.get("url") or (org.get("url") or org.get("website") if isinstance(org, dict) else None),
            description=service.get("description"), cost=_cost(service), status=service.get("status"),
            languages=[lang for lang in languages if lang] or None,
            licence=options.get("licence"), attrs=ext.get("attrs") if isinstance(ext.get("attrs"), dict) else None,
            subtype=ext.get("subtype"), sensitive=ext.get("sensitive"),
            **({"opening_hours": hours} if hours else {}),
        )
        if broken:
            rec["reason"] = "schema_violation"
            rec["message"] = (f"service {sid or i} ({service.get('name')!r}) breaks Open Referral UK 3.0's "
                              f"service schema: {'; '.join(broken)}")
        elif category is None:
            rec["reason"] = "unknown_category"
            rec["message"] = (f"service {sid or i} ({service.get('name')!r}): no taxonomy term, name or "
                              "description says what it is; give --category")
        rows.append(rec)
    return rows


READER = Reader(
    KIND, KINDS[KIND], read, write_assets, tables=("assets", "asset_versions"), rank=4,
    holds_assets=True, json=lambda doc, _options: looks_like_openreferral(doc))
