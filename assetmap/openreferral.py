"""Open Referral UK out: the assets as Open Referral UK 3.0 (or the 2019 v1 shape), and its check.

What a partnership curates here (moderated submissions included) flows back into the council's
and the NHS's service directories. By default (``version="3.0"``) the export is one page of the
3.0 API's service list: ``contents`` holds every site as a full service, as ``/services/{id}``
serves it: its ``organization`` (one per source, a UUID made from its name), ``status``, ``url``,
``languages``, ``cost_options``, its category as an ``attributes[].taxonomy_term`` of the
``assetmap`` taxonomy, and ``service_at_locations`` with each physical ``location`` and its
``addresses`` (the city is the local authority the site lies in, the state or province its
nation). With ``version="1"`` it is the 2019 package: ``organizations``, ``services`` (the
category a ``service_taxonomys`` term), and ``locations`` and ``service_at_locations`` as flat
tables. Either way an ``assetmap`` extension object keeps what Open Referral has no field for
(subtype, attributes such as capacity or ESOL levels, the sensitive flag, the source's record id).

Everything is validated before it is written: 3.0 against the standard's compiled service schema
and its OpenAPI ``Page`` (:data:`SCHEMAS_3`, ``assetmap/schemas/oruk3``, CC BY-SA 4.0), v1
against Open Referral UK's v1 JSON Schemas (:data:`SCHEMAS`), with formats checked (``uri`` by
RFC 3986, ``email``, ``date``, ``uuid``). Both read back through
:mod:`assetmap.sources.openreferral`: exporting and ingesting into an empty store gives the same
sites. In public mode sensitive sites are left out.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from assetmap.errors import AssetmapError
from assetmap.queries import exports

if TYPE_CHECKING:
    import duckdb

    from assetmap.db.store import Store
from assetmap.vocab.categories import CATEGORY_LABELS

SCHEMAS = Path(__file__).resolve().parent / "schemas" / "oruk"
SCHEMAS_3 = Path(__file__).resolve().parent / "schemas" / "oruk3"
_NS = uuid.UUID("6f1c2a54-2d0e-4c59-9f3e-0a55e7a1d201")  # assetmap's namespace for the ids it makes
#: attributes that have their own HSDS fields (the rest go into the ``assetmap`` extension)
_HSDS_ATTRS = ("website", "description", "cost", "languages")


class InvalidExport(AssetmapError, ValueError):
    """What was about to be written does not meet the Open Referral UK schema."""


def make_id(*parts: str) -> str:
    """Return a UUID made from ``parts`` in assetmap's namespace: the same parts, the same id, every export."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _text(value: Any) -> str | None:
    """Return a value as text; None for a missing one (SQL NULL reaches pandas as None or NaN)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "" else str(value)


def _url(value: Any) -> str | None:
    """``value`` as a web address the schemas' ``uri`` format takes (RFC 3986), or None."""
    from rfc3986_validator import validate_rfc3986

    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) and validate_rfc3986(text, rule="URI") else None


#: The id of assetmap's taxonomy (its terms are the categories).
TAXONOMY_ID = make_id("taxonomy", "assetmap")
#: The shapes written: Open Referral UK 3.0 (the default) and the 2019 v1 package.
VERSIONS = ("3.0", "1")
_NATIONS = {"E": "England", "W": "Wales", "S": "Scotland", "N": "Northern Ireland"}


def document(store: Store, partner: bool = False, version: str = "3.0") -> dict[str, Any]:
    """Return the assets of ``store`` as Open Referral UK: :func:`document_of` its connection."""
    return document_of(store.con, partner=partner, version=version)


def document_of(con: duckdb.DuckDBPyConnection, partner: bool = False, version: str = "3.0") -> dict[str, Any]:
    """Return the assets as Open Referral UK (sensitive sites only for ``partner``), checked first.

    ``version`` ``"3.0"`` gives one page of the 3.0 API's service list (``contents``: every
    service whole, as ``/services/{id}`` serves it); ``"1"`` the 2019 package of flat and nested
    tables. Either reads back through :mod:`assetmap.sources.openreferral`.
    """
    if version not in VERSIONS:
        msg = f"unknown Open Referral UK version {version!r}; one of {', '.join(VERSIONS)}"
        raise ValueError(msg)
    df = exports.referral_sites(con, partner)
    doc = _v1(df) if version == "1" else _v3(df)
    validate(doc)
    return doc


def services_in(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the services of a document :func:`document` made, whichever version."""
    return list(doc.get("contents") or doc.get("services") or [])


def _organization(source: str, licence: Any) -> dict[str, Any]:
    return {"id": make_id("organization", source), "name": source,
            "description": f"Sites listed by {source}, as held by assetmap"
                           + (f" ({_text(licence)})" if _text(licence) else "")}


def _extension(r: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """Return what Open Referral UK has no field for, kept in an ``assetmap`` object beside the service."""
    return {"asset_id": r.asset_id, "subtype": _text(r.subtype), "sensitive": bool(r.sensitive),
            "source_record_id": _text(r.source_record_id),
            # the address as its source gave it (the standard's adds the authority and the nation)
            "address": _text(r.address),
            # a website that is not a URL Open Referral takes stays here, with the rest
            "attrs": {k: v for k, v in attrs.items() if k not in _HSDS_ATTRS or (k == "website" and not _url(v))}}


def _described(attrs: dict[str, Any]) -> dict[str, str]:
    """Return a service's ``description`` and ``url`` (a website Open Referral takes), where the site has them."""
    out = {"description": str(attrs["description"])} if attrs.get("description") else {}
    if url := _url(attrs.get("website")):
        out["url"] = url
    return out


def _v3(df: pd.DataFrame) -> dict[str, Any]:
    services = []
    for r in df.itertuples():
        attrs = json.loads(r.attrs) if isinstance(r.attrs, str) else {}
        org = _organization(r.source, r.licence)
        sid, lid = make_id("service", r.asset_id), make_id("location", r.asset_id)
        location: dict[str, Any] = {"id": lid, "location_type": "physical", "name": r.name,
                                    "latitude": round(float(r.lat), 7), "longitude": round(float(r.lon), 7)}
        address, postcode = _text(r.address), _text(r.postcode)
        if address or postcode:
            la = _text(r.la_code) or ""
            # 3.0 requires a city and a state or province: the local authority the site lies in, and
            # its nation (empty where the store knows neither)
            location["addresses"] = [{"id": make_id("address", r.asset_id), "location_id": lid,
                                      "address_1": address or "", "city": _text(r.la_name) or "",
                                      "state_province": _NATIONS.get(la[:1], ""), "postal_code": postcode or "",
                                      "country": "GB", "address_type": "physical"}]
        term_id = make_id("taxonomy_term", r.category)
        service: dict[str, Any] = {
            "id": sid, "organization_id": org["id"], "organization": org, "name": r.name, "status": "active",
            "service_at_locations": [{"id": make_id("sal", r.asset_id), "service_id": sid, "location_id": lid,
                                      "location": location}],
            "attributes": [{"id": make_id("attribute", r.asset_id), "link_id": sid, "link_type": "category",
                            "link_entity": "service", "taxonomy_term_id": term_id,
                            "taxonomy_term": {"id": term_id, "name": CATEGORY_LABELS.get(r.category, r.category),
                                              "description": f"assetmap's category {r.category}",
                                              "taxonomy": "assetmap", "term": r.category,
                                              "taxonomy_id": TAXONOMY_ID}}],
            "assetmap": _extension(r, attrs),
        }
        service.update(_described(attrs))
        if attrs.get("languages"):
            service["languages"] = [{"id": make_id("language", r.asset_id, str(lang)), "service_id": sid,
                                     "name": str(lang)} for lang in attrs["languages"]]
        if attrs.get("opening_hours"):
            service["schedules"] = [{"id": make_id("schedule", r.asset_id), "service_id": sid,
                                     "description": str(attrs["opening_hours"])}]
        if attrs.get("cost") in ("free", "fee"):
            cost: dict[str, Any] = {"id": make_id("cost", r.asset_id), "service_id": sid}
            # a fee of an amount the source did not give has no amount (3.0 takes a number or nothing)
            cost.update({"option": "Free", "amount": 0, "currency": "GBP"} if attrs["cost"] == "free"
                        else {"option": "A fee is charged"})
            service["cost_options"] = [cost]
        if r.observed_at is not None and not pd.isna(r.observed_at):
            service["assured_date"] = pd.Timestamp(r.observed_at).date().isoformat()
        services.append(service)
    n = len(services)
    return {"total_items": n, "total_pages": 1, "page_number": 1, "size": n, "first_page": True,
            "last_page": True, "empty": n == 0, "contents": services}


def _v1(df: pd.DataFrame) -> dict[str, Any]:
    organizations: dict[str, dict[str, Any]] = {}
    services, locations, links = [], [], []
    for r in df.itertuples():
        attrs = json.loads(r.attrs) if isinstance(r.attrs, str) else {}
        org = organizations.setdefault(make_id("organization", r.source), _organization(r.source, r.licence))
        sid, lid = make_id("service", r.asset_id), make_id("location", r.asset_id)
        location: dict[str, Any] = {"id": lid, "name": r.name, "latitude": round(float(r.lat), 7),
                                    "longitude": round(float(r.lon), 7)}
        address, postcode = _text(r.address), _text(r.postcode)
        if address or postcode:
            # the validator's later v1 schema requires a city and a state or province, as 3.0 does
            la = _text(r.la_code) or ""
            location["physical_addresses"] = [{"id": make_id("address", r.asset_id), "location_id": lid,
                                               "address_1": address or "", "city": _text(r.la_name) or "",
                                               "state_province": _NATIONS.get(la[:1], ""),
                                               "postal_code": postcode or "", "country": "GB"}]
        service: dict[str, Any] = {
            "id": sid, "organization": dict(org), "name": r.name, "status": "active",
            "service_taxonomys": [{"id": make_id("taxonomy", r.asset_id), "taxonomy": {
                "id": r.category, "name": CATEGORY_LABELS.get(r.category, r.category), "vocabulary": "assetmap"}}],
            "service_at_locations": [{"id": make_id("sal", r.asset_id), "location": location}],
            "assetmap": _extension(r, attrs),
        }
        service.update(_described(attrs))
        if attrs.get("languages"):
            service["languages"] = [{"id": make_id("language", r.asset_id, str(lang)), "language": str(lang)}
                                    for lang in attrs["languages"]]
        if attrs.get("cost") in ("free", "fee"):
            free = attrs["cost"] == "free"
            # an amount the source did not give is left out (null fails the validator's schemas)
            service["cost_options"] = [{"id": make_id("cost", r.asset_id), "option": "Free" if free else
                                        "A fee is charged", **({"amount": 0} if free else {})}]
        if r.observed_at is not None and not pd.isna(r.observed_at):
            service["assured_date"] = pd.Timestamp(r.observed_at).date().isoformat()
        services.append(service)
        locations.append(location)
        links.append({"id": make_id("sal", r.asset_id), "service_id": sid, "location_id": lid})
    doc = {"generator": "assetmap", "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
           "organizations": list(organizations.values()), "services": services, "locations": locations,
           "service_at_locations": links}
    return doc


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft7Validator, Draft202012Validator

    def schema(path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))

    out: dict[str, Any] = {name: Draft7Validator(schema(SCHEMAS / f"{name}.schema.json"),
                                                 format_checker=Draft7Validator.FORMAT_CHECKER)
                           for name in ("service", "organization", "location")}
    # 3.0: a full service, and the API's page around a list (its Page, with the items under contents)
    checker = Draft202012Validator.FORMAT_CHECKER
    out["service3"] = Draft202012Validator(schema(SCHEMAS_3 / "service.json"), format_checker=checker)
    page = dict(schema(SCHEMAS_3 / "openapi.json")["components"]["schemas"]["Page"])
    page["properties"] = {**page["properties"], "contents": {"type": "array"}}
    page["required"] = [*page["properties"]]
    out["page3"] = Draft202012Validator(page, format_checker=checker)
    # the API's root answer, and a taxonomy term (as a service's attributes hold one)
    api = schema(SCHEMAS_3 / "openapi.json")["paths"]["/"]["get"]["responses"]["200"]["content"]
    out["details3"] = Draft202012Validator(api["application/json"]["schema"], format_checker=checker)
    term = out["service3"].schema["properties"]["attributes"]["items"]["properties"]["taxonomy_term"]
    out["term3"] = Draft202012Validator(term, format_checker=checker)
    return out


def problems(doc: dict[str, Any], limit: int = 10) -> list[str]:
    """Return what in ``doc`` breaks Open Referral UK's schemas (at most ``limit``), or nothing.

    A 3.0 page against the API's ``Page`` and each of its services against 3.0's service schema; a v1 package's
    services, organizations and locations against v1's.
    """
    checks = _validators()
    if "contents" in doc:
        tables = [("", [doc], "page3"), ("contents", doc.get("contents") or [], "service3")]
    else:
        tables = [(table, doc.get(table) or [], schema) for table, schema in
                  (("services", "service"), ("organizations", "organization"), ("locations", "location"))]
    out: list[str] = []
    for table, items, schema in tables:
        for i, item in enumerate(items):
            for err in checks[schema].iter_errors(item):
                where = "/".join(str(p) for p in err.absolute_path)
                at = f"{table}[{i}]" if table else "page"
                out.append(f"{at}{'/' + where if where else ''}: {err.message}")
                if len(out) >= limit:
                    return out
    return out


def service_problems(service: dict[str, Any], limit: int = 3, schema: str = "service3") -> list[str]:
    """Return what in one Open Referral UK 3.0 service breaks the standard's schema.

    Return what in one Open Referral UK 3.0 service breaks the standard's service schema (its formats included),
    at most ``limit`` lines, or nothing: what a reader quarantines it for. ``schema`` ``"details3"`` checks the
    API's root answer instead, ``"term3"`` a taxonomy term.
    """
    out = []
    for err in _validators()[schema].iter_errors(service):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where + ': ' if where else ''}{err.message[:160]}")
        if len(out) >= limit:
            break
    return out


def validate(doc: dict[str, Any]) -> None:
    """Raise :class:`InvalidExport` naming what breaks the schema."""
    found = problems(doc)
    if found:
        raise InvalidExport("the Open Referral UK export does not meet the schema: " + "; ".join(found))
