"""Open Referral UK 3.0's read-only API over the published sites.

What a council's directory or the NHS pulls from.

A pure answer to ``(path, query)`` over one :func:`assetmap.openreferral.document` (version 3.0)
of a snapshot, as the standard's OpenAPI describes it (``assetmap/schemas/oruk3/openapi.json``):

========================================  ==================================================
``/``                                      the API's details (version, profile, OpenAPI)
``/services``                              a page of services, each as a list gives it (no
                                           locations: ask ``/services/{id}``)
``/services/{id}``                         one service whole
``/service_at_locations``                  a page of services at their locations
``/service_at_locations/{id}``             one service at its location
``/organizations``, ``/organizations/{id}`` the sources, as organisations (one with its services)
``/taxonomies``, ``/taxonomy_terms``       assetmap's taxonomy and its terms (the categories)
========================================  ==================================================

Lists are paged by ``page`` (from 1) and ``per_page`` (default :data:`PER_PAGE`, at most
:data:`MAX_PER_PAGE`) in the standard's ``Page`` envelope (``total_items``, ``total_pages``,
``page_number``, ``size``, ``first_page``, ``last_page``, ``empty``, ``contents``). The server
(:mod:`dashboards.directory`) gives it the public snapshot only, so nothing sensitive is served.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from assetmap.openreferral import TAXONOMY_ID

PER_PAGE = 50
MAX_PER_PAGE = 500
DETAILS = {"version": "HSDS-UK-3.0", "profile": "https://github.com/OpenReferralUK/uk-profile/blob/main/docs/index.md",
           "openapi_url": "https://docs.openreferraluk.org/en/latest/openapi30.json"}
#: The fields of a service as a list page gives it (3.0's ``service_list``: no nested tables).
_LISTED = ("id", "organization_id", "name", "description", "url", "email", "status", "fees", "accreditations",
           "minimum_age", "maximum_age", "assured_date", "assurer_email", "alert", "last_modified", "organization")


class ApiError(ValueError):
    """A request the API cannot answer: ``status`` (400 or 404) and what to say."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be from {low} to {high}, not {value}")
    return value


def page(items: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    """One page of ``items`` in 3.0's ``Page`` envelope (``page``, ``per_page`` from ``params``)."""
    per_page = _int(params, "per_page", PER_PAGE, 1, MAX_PER_PAGE)
    pages = max(1, math.ceil(len(items) / per_page))
    number = _int(params, "page", 1, 1, 10**9)
    contents = items[(number - 1) * per_page: number * per_page]
    return {"total_items": len(items), "total_pages": pages, "page_number": number, "size": len(contents),
            "first_page": number == 1, "last_page": number >= pages, "empty": not contents, "contents": contents}


def listed(service: dict[str, Any]) -> dict[str, Any]:
    """Return a service as a list page gives it."""
    return {k: service[k] for k in _LISTED if k in service}


def organizations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the document's organisations, each once, in order of first appearance."""
    seen: dict[str, dict[str, Any]] = {}
    for s in doc["contents"]:
        seen.setdefault(s["organization"]["id"], s["organization"])
    return list(seen.values())


def _terms(doc: dict[str, Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for s in doc["contents"]:
        for a in s.get("attributes") or []:
            seen.setdefault(a["taxonomy_term"]["id"], a["taxonomy_term"])
    return sorted(seen.values(), key=lambda t: t["name"])


def _one(items: list[dict[str, Any]], wanted: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == wanted:
            return item
    raise ApiError(404, f"no {what} {wanted!r}")


def answer(doc: dict[str, Any], path: str, params: dict[str, str]) -> dict[str, Any]:
    """Return the API's answer to ``path`` with query ``params``, over ``doc``.

    Return the API's answer to ``path`` (below the API's root) with query ``params``, over ``doc`` (3.0, as
    :func:`assetmap.openreferral.document` makes it); :class:`ApiError` otherwise.
    """
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        return dict(DETAILS)
    head, rest = parts[0], parts[1:]
    resource = _RESOURCES.get(head)
    if resource is None or len(rest) > 1:
        raise ApiError(404, f"no such resource: /{'/'.join(parts)}")
    return resource(doc, rest[0] if rest else None, params)


def _services(doc: dict[str, Any], wanted: str | None, params: dict[str, str]) -> dict[str, Any]:
    services: list[dict[str, Any]] = doc["contents"]
    return _one(services, wanted, "service") if wanted else page([listed(s) for s in services], params)


def _service_at_locations(doc: dict[str, Any], wanted: str | None, params: dict[str, str]) -> dict[str, Any]:
    sals = [{"id": sal["id"], "service": listed(s), "location": sal["location"]}
            for s in doc["contents"] for sal in s.get("service_at_locations") or []]
    return _one(sals, wanted, "service at location") if wanted else page(sals, params)


def _organizations(doc: dict[str, Any], wanted: str | None, params: dict[str, str]) -> dict[str, Any]:
    orgs = organizations(doc)
    if not wanted:
        return page(orgs, params)
    return {**_one(orgs, wanted, "organization"),
            "services": [listed(s) for s in doc["contents"] if s["organization"]["id"] == wanted]}


def _taxonomy_terms(doc: dict[str, Any], wanted: str | None, params: dict[str, str]) -> dict[str, Any]:
    terms = _terms(doc)
    return _one(terms, wanted, "taxonomy term") if wanted else page(terms, params)


def _taxonomies(_doc: dict[str, Any], wanted: str | None, params: dict[str, str]) -> dict[str, Any]:
    taxonomy = {"id": TAXONOMY_ID, "name": "assetmap", "description": "assetmap's categories of community "
                "assets: ESOL providers, community centres, places of worship, refugee support"}
    return _one([taxonomy], wanted, "taxonomy") if wanted else page([taxonomy], params)


#: The API's resources below its root: each answers a list page, or one item by id.
_RESOURCES: dict[str, Callable[[dict[str, Any], str | None, dict[str, str]], dict[str, Any]]] = {
    "services": _services, "service_at_locations": _service_at_locations, "organizations": _organizations,
    "taxonomy_terms": _taxonomy_terms, "taxonomies": _taxonomies,
}
