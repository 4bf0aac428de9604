"""The asset vocabulary: categories, their aliases, and the attributes the sector cares about.

A category is what an asset is for a planner; a subtype refines it (for a place of worship,
the religion). Attributes are normalised here so that every reader stores the same shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from assetmap.errors import AssetmapError

#: The categories assetmap knows, with a human label.
CATEGORIES: dict[str, str] = {
    "community_centre": "Community centre",
    "place_of_worship": "Place of worship",
    "esol_provider": "ESOL provider",
    "refugee_support": "Refugee and migrant support",
}

#: What a map legend or a table calls a category's assets, in the plural.
CATEGORY_LABELS: dict[str, str] = {
    "esol_provider": "ESOL classes",
    "community_centre": "Community centres",
    "place_of_worship": "Places of worship",
    "refugee_support": "Refugee support",
}

#: One asset of each category, for sentences ("the nearest ESOL class").
CATEGORY_ONE: dict[str, str] = {
    "esol_provider": "ESOL class",
    "community_centre": "community centre",
    "place_of_worship": "place of worship",
    "refugee_support": "refugee support service",
}

#: Categories whose assets are sensitive by default (exact location withheld in public mode).
SENSITIVE_CATEGORIES: frozenset[str] = frozenset({"refugee_support"})

_CATEGORY_ALIASES: dict[str, str] = {
    "community centre": "community_centre",
    "community center": "community_centre",
    "community hub": "community_centre",
    "community_centre": "community_centre",
    "community space": "community_centre",
    "village hall": "community_centre",
    "welcome space": "community_centre",
    "warm space": "community_centre",
    "place of worship": "place_of_worship",
    "place_of_worship": "place_of_worship",
    "faith": "place_of_worship",
    "faith space": "place_of_worship",
    "worship": "place_of_worship",
    "church": "place_of_worship",
    "mosque": "place_of_worship",
    "gurdwara": "place_of_worship",
    "temple": "place_of_worship",
    "synagogue": "place_of_worship",
    "esol": "esol_provider",
    "esol provider": "esol_provider",
    "esol_provider": "esol_provider",
    "esol class": "esol_provider",
    "english class": "esol_provider",
    "english language": "esol_provider",
    "language class": "esol_provider",
    "refugee support": "refugee_support",
    "refugee_support": "refugee_support",
    "refugee": "refugee_support",
    "migrant support": "refugee_support",
    "asylum support": "refugee_support",
    "welcome project": "refugee_support",
    "refugee community organisation": "refugee_support",
    "advice centre": "refugee_support",
    "immigration advice": "refugee_support",
}

#: Religions for places of worship, as OSM's ``religion`` tag spells them.
RELIGIONS: frozenset[str] = frozenset(
    {
        "christian", "muslim", "sikh", "hindu", "jewish", "buddhist", "jain",
        "bahai", "zoroastrian", "multifaith", "spiritualist", "other",
    }
)

ESOL_LEVELS: tuple[str, ...] = ("Pre-entry", "Entry 1", "Entry 2", "Entry 3", "Level 1", "Level 2")
_ESOL_LEVEL_ALIASES = {
    "preentry": "Pre-entry", "pe": "Pre-entry", "prentry": "Pre-entry", "beginner": "Pre-entry",
    "entry1": "Entry 1", "e1": "Entry 1",
    "entry2": "Entry 2", "e2": "Entry 2",
    "entry3": "Entry 3", "e3": "Entry 3",
    "level1": "Level 1", "l1": "Level 1",
    "level2": "Level 2", "l2": "Level 2",
}

#: Attribute columns of the provider template, with their kind.
ATTRIBUTES: dict[str, str] = {
    "capacity": "int",
    "cost": "cost",
    "esol_levels": "levels",
    "childcare": "bool",
    "women_only": "bool",
    "languages": "list",
    "waiting_list_weeks": "number",
    "day_evening": "day_evening",
    "step_free": "bool",
    "opening_hours": "text",
    "website": "link",
    "phone": "text",
    "description": "text",
}

_TRUE = {"y", "yes", "true", "t", "1", "x"}
_FALSE = {"n", "no", "false", "f", "0"}


class InvalidAttribute(AssetmapError, ValueError):
    """An attribute value that cannot be understood; the message names the field."""


def normalise_category(value: Any) -> str | None:
    """Map a free-text category to an assetmap category, or None when it is not recognised."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", str(value).strip().lower().replace("-", " "))
    if not text:
        return None
    if text in CATEGORIES:
        return text
    return _CATEGORY_ALIASES.get(text) or _CATEGORY_ALIASES.get(text.replace("_", " "))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def parse_bool(value: Any, field: str) -> bool | None:
    """``value`` as a yes/no (None when empty), or :class:`InvalidAttribute` naming ``field``."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"{field} must be yes or no, got {str(value)!r}"
    raise InvalidAttribute(msg)


#: What providers write for a site that is open or closed (Open Referral UK's ``status`` values
#: among them: ``temporarily closed`` counts as closed, since nobody can go there now).
STATUS_OPEN = frozenset({"open", "active", "operating", "running", "current", "live"})
STATUS_CLOSED = frozenset({"closed", "inactive", "defunct", "temporarily closed", "permanently closed", "ceased",
                           "shut", "discontinued"})


def parse_status(value: Any) -> str:
    """``open`` or ``closed`` for a record's status (blank: open)."""
    if _blank(value):
        return "open"
    text = re.sub(r"[\s_-]+", " ", str(value).strip().lower())
    if text in STATUS_OPEN:
        return "open"
    if text in STATUS_CLOSED:
        return "closed"
    msg = f"status must be open or closed, got {str(value)!r}"
    raise InvalidAttribute(msg)


def _parse_levels(value: Any, field: str) -> list[str] | None:
    parts = [str(v) for v in value] if isinstance(value, list) else re.split(r"[;,/|]", str(value))
    levels: list[str] = []
    for part in parts:
        key = re.sub(r"[^a-z0-9]", "", part.lower())
        if not key:
            continue
        level = _ESOL_LEVEL_ALIASES.get(key)
        if level is None:
            msg = f"{field}: {part.strip()!r} is not an ESOL level (use {', '.join(ESOL_LEVELS)})"
            raise InvalidAttribute(msg)
        if level not in levels:
            levels.append(level)
    levels.sort(key=ESOL_LEVELS.index)
    return levels or None


def _parse_number(value: Any, field: str, integer: bool) -> float | int | None:
    text = str(value).strip().replace(",", "")
    try:
        number = float(text)
    except ValueError:
        msg = f"{field} must be a number, got {str(value)!r}"
        raise InvalidAttribute(msg) from None
    if math.isnan(number) or number < 0:
        msg = f"{field} must be zero or more, got {str(value)!r}"
        raise InvalidAttribute(msg)
    if integer:
        if number != int(number):
            msg = f"{field} must be a whole number, got {str(value)!r}"
            raise InvalidAttribute(msg)
        return int(number)
    return number


def normalise_attribute(field: str, value: Any) -> Any:
    """Normalise one attribute value by its kind; raise InvalidAttribute when it is invalid."""
    if _blank(value) if not isinstance(value, list) else not value:
        return None
    parse = _PARSERS.get(ATTRIBUTES[field])
    return parse(value, field) if parse is not None else str(value).strip()


def _parse_list(value: Any, field: str) -> list[str] | None:
    items = value if isinstance(value, list) else re.split(r"[;,/|]", str(value))
    out = [str(i).strip() for i in items if str(i).strip()]
    return out or None


_COST_WORDS = {
    "free": {"free", "0", "£0", "no cost", "none", "free of charge"},
    "fee": {"fee", "paid", "charge", "charged"},
    "mixed": {"mixed", "some free", "free and fee", "concessions"},
}


def _parse_cost(value: Any, field: str) -> str:
    text = str(value).strip().lower()
    found = next((cost for cost, words in _COST_WORDS.items() if text in words), None)
    if found is None and text.startswith("£"):
        found = "fee"
    if found is None:
        msg = f"{field} must be free, fee or mixed, got {str(value)!r}"
        raise InvalidAttribute(msg)
    return found


_DAY_EVENING = {"day": "day", "daytime": "day", "evening": "evening", "evenings": "evening",
                "both": "both", "day and evening": "both", "day/evening": "both"}


def _parse_day_evening(value: Any, field: str) -> str:
    text = str(value).strip().lower()
    if text not in _DAY_EVENING:
        msg = f"{field} must be day, evening or both, got {str(value)!r}"
        raise InvalidAttribute(msg)
    return _DAY_EVENING[text]


#: The schemes a link may have: a page, an email address or a telephone number.
LINK_SCHEMES = ("http", "https", "mailto", "tel")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)


def link_scheme(value: Any) -> str | None:
    r"""Return the scheme a browser would see in ``value``, or None.

    Return the scheme a browser would see in ``value`` (lower case), or None for a link without one
    (``www.example.org``). Browsers drop control characters and whitespace inside a scheme (``java\tscript:``),
    so this does too; ``host:8080`` is a host and port, not a scheme.
    """
    text = re.sub(r"[\x00-\x20\x7f]", "", str(value))
    m = _SCHEME.match(text)
    if m is None:
        return None
    scheme = m.group(1).lower()
    rest = text[m.end():]
    if "." in scheme and re.match(r"\d", rest):  # www.example.org:8080/path
        return None
    return scheme


def check_link(value: Any, field: str = "website") -> str:
    """Return ``value`` as a link, or :class:`InvalidAttribute` when its scheme is not allowed.

    ``value`` as a link, or :class:`InvalidAttribute` when its scheme is not one of :data:`LINK_SCHEMES`
    (``javascript:``, ``data:``, ``vbscript:``... never become links).
    """
    text = str(value).strip()
    scheme = link_scheme(text)
    if scheme is not None and scheme not in LINK_SCHEMES:
        msg = f"{field}: a {scheme}: link is not allowed (only http, https, mailto or tel)"
        raise InvalidAttribute(msg)
    return text


#: How each kind of attribute is read (any other kind is kept as its text).
_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "int": lambda value, field: _parse_number(value, field, integer=True),
    "number": lambda value, field: _parse_number(value, field, integer=False),
    "bool": parse_bool,
    "levels": _parse_levels,
    "list": _parse_list,
    "cost": _parse_cost,
    "link": check_link,
    "day_evening": _parse_day_evening,
}


def safe_link(value: Any) -> str | None:
    """Return the URL a page may put in an ``href`` for ``value``.

    Http(s), mailto or tel as given, a bare ``www.example.org`` as https; None for anything else (shown as text,
    never as a link).
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    scheme = link_scheme(text)
    if scheme is None:
        return "https://" + text if re.match(r"^[\w-]+(\.[\w-]+)+([/:?#]|$)", text) else None
    return text if scheme in LINK_SCHEMES else None


def normalise_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalise every known attribute in ``raw``; unknown keys are ignored.

    Raises
    ------
    InvalidAttribute
        On the first value that cannot be understood.
    """
    out: dict[str, Any] = {}
    for field in ATTRIBUTES:
        if field in raw:
            value = normalise_attribute(field, raw[field])
            if value is not None:
                out[field] = value
    return out
