"""Census variables and categories, and matching of the labels ONS and Nomis publish.

Stored categories are short slugs. Ethnic group uses the 19 categories of the 2021 Census
(table TS021); 2011's 18 categories of KS201EW map onto them (2011 had no separate Roma
category: Roma were counted in "Other White"). Condensed tables that merge the four Mixed
categories store them as the documented aggregate ``mixed``.

English proficiency follows TS029 (2011: QS205EW); country of birth follows TS004's
continental groups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

ETHNIC_GROUP = "ethnic_group"
ENGLISH_PROFICIENCY = "english_proficiency"
COUNTRY_OF_BIRTH = "country_of_birth"
VARIABLES = (ETHNIC_GROUP, ENGLISH_PROFICIENCY, COUNTRY_OF_BIRTH)

#: The 19 ethnic-group categories of the 2021 Census: slug -> (high-level group, ONS label).
ETHNIC_CATEGORIES: dict[str, tuple[str, str]] = {
    "asian_bangladeshi": ("asian", "Asian, Asian British or Asian Welsh: Bangladeshi"),
    "asian_chinese": ("asian", "Asian, Asian British or Asian Welsh: Chinese"),
    "asian_indian": ("asian", "Asian, Asian British or Asian Welsh: Indian"),
    "asian_pakistani": ("asian", "Asian, Asian British or Asian Welsh: Pakistani"),
    "asian_other": ("asian", "Asian, Asian British or Asian Welsh: Other Asian"),
    "black_african": ("black", "Black, Black British, Black Welsh, Caribbean or African: African"),
    "black_caribbean": ("black", "Black, Black British, Black Welsh, Caribbean or African: Caribbean"),
    "black_other": ("black", "Black, Black British, Black Welsh, Caribbean or African: Other Black"),
    "mixed_white_asian": ("mixed", "Mixed or Multiple ethnic groups: White and Asian"),
    "mixed_white_black_african": ("mixed", "Mixed or Multiple ethnic groups: White and Black African"),
    "mixed_white_black_caribbean": ("mixed", "Mixed or Multiple ethnic groups: White and Black Caribbean"),
    "mixed_other": ("mixed", "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups"),
    "white_british": ("white", "White: English, Welsh, Scottish, Northern Irish or British"),
    "white_irish": ("white", "White: Irish"),
    "white_gypsy_traveller": ("white", "White: Gypsy or Irish Traveller"),
    "white_roma": ("white", "White: Roma"),
    "white_other": ("white", "White: Other White"),
    "other_arab": ("other", "Other ethnic group: Arab"),
    "other_any": ("other", "Other ethnic group: Any other ethnic group"),
}

#: Aggregate categories that condensed tables publish in place of several detailed ones.
ETHNIC_AGGREGATES: dict[str, tuple[str, str]] = {
    "mixed": ("mixed", "Mixed or Multiple ethnic groups (all four categories)"),
}

#: ONS high-level ethnic groups, the default focal groups of the segregation indices.
HIGH_LEVEL_GROUPS = ("white", "mixed", "asian", "black", "other")

ENGLISH_CATEGORIES: dict[str, str] = {
    "main_english": "Main language is English (English or Welsh in Wales)",
    "very_well": "Main language is not English: Can speak English very well",
    "well": "Main language is not English: Can speak English well",
    "not_well": "Main language is not English: Cannot speak English well",
    "cannot": "Main language is not English: Cannot speak English",
    "does_not_apply": "Does not apply",
}
#: Residents who need ESOL most: they cannot speak English well or at all.
ESOL_NEED_CATEGORIES = ("not_well", "cannot")

BIRTH_CATEGORIES: dict[str, str] = {
    "uk": "Europe: United Kingdom",
    "ireland": "Europe: Ireland",
    "europe_eu": "Europe: Other Europe: EU countries",
    "europe_non_eu": "Europe: Other Europe: Non-EU countries",
    "africa": "Africa",
    "middle_east_asia": "Middle East and Asia",
    "americas_caribbean": "The Americas and the Caribbean",
    "oceania_other": "Antarctica, Oceania (including Australasia) and Other",
    "british_overseas": "British Overseas",
}

#: People counted in a row's total but in none of the category columns a file lists (a
#: condensed table that leaves a category out). Keeping them keeps every area's population
#: equal to the published total.
UNLISTED = "unlisted"

CATEGORIES: dict[str, tuple[str, ...]] = {
    ETHNIC_GROUP: tuple(ETHNIC_CATEGORIES) + tuple(ETHNIC_AGGREGATES) + (UNLISTED,),
    ENGLISH_PROFICIENCY: (*tuple(ENGLISH_CATEGORIES), UNLISTED),
    COUNTRY_OF_BIRTH: (*tuple(BIRTH_CATEGORIES), UNLISTED),
}

#: Compact column names of well-known condensed files (e.g. the MLID 2011 extract).
_COMPACT: dict[str, tuple[str, str]] = {
    "whitebrit": (ETHNIC_GROUP, "white_british"),
    "irish": (ETHNIC_GROUP, "white_irish"),
    "otherwhite": (ETHNIC_GROUP, "white_other"),
    "gypsy": (ETHNIC_GROUP, "white_gypsy_traveller"),
    "roma": (ETHNIC_GROUP, "white_roma"),
    "mixed": (ETHNIC_GROUP, "mixed"),
    "indian": (ETHNIC_GROUP, "asian_indian"),
    "pakistani": (ETHNIC_GROUP, "asian_pakistani"),
    "bangladeshi": (ETHNIC_GROUP, "asian_bangladeshi"),
    "chinese": (ETHNIC_GROUP, "asian_chinese"),
    "otherasian": (ETHNIC_GROUP, "asian_other"),
    "blkafrican": (ETHNIC_GROUP, "black_african"),
    "blkcaribbean": (ETHNIC_GROUP, "black_caribbean"),
    "otherblk": (ETHNIC_GROUP, "black_other"),
    "arab": (ETHNIC_GROUP, "other_arab"),
    "other": (ETHNIC_GROUP, "other_any"),
}

TOTAL = "__total__"
SUBTOTAL = "__subtotal__"


def high_level_group(category: str) -> str | None:
    """Return the ONS high-level group (white, mixed, asian, black, other) of an ethnic category."""
    entry = ETHNIC_CATEGORIES.get(category) or ETHNIC_AGGREGATES.get(category)
    return entry[0] if entry else None


def clean_label(label: str) -> str:
    """Return a census category label without its table's prefixes and notes."""
    text = label.strip().lower()
    text = re.sub(r";\s*measures:.*$", "", text)
    text = re.sub(r"\s*\(\d+ categories\)", "", text)
    text = re.sub(r"^(ethnic group|proficiency in english( language)?|english proficiency|"
                  r"country of birth)\s*:\s*", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _white(d: str) -> str | None:
    if "gypsy" in d or "traveller" in d:
        return "white_gypsy_traveller"
    if d in ("roma", "irish"):
        return f"white_{d}"
    if d.startswith("other"):
        return "white_other"
    if "british" in d or "english" in d:
        return "white_british"
    return None


def _mixed(d: str) -> str | None:
    for word, category in (("other", "mixed_other"), ("asian", "mixed_white_asian"),
                           ("african", "mixed_white_black_african"), ("caribbean", "mixed_white_black_caribbean")):
        if word in d:
            return category
    return None


def _asian(d: str) -> str | None:
    if d in ("bangladeshi", "chinese", "indian", "pakistani"):
        return f"asian_{d}"
    return "asian_other" if d.startswith("other") else None


def _black(d: str) -> str | None:
    if d in ("african", "caribbean"):
        return f"black_{d}"
    return "black_other" if d.startswith("other") else None


def _other(d: str) -> str | None:
    if d == "arab":
        return "other_arab"
    return "other_any" if "any other" in d else None


#: An ethnic-group label's high-level group (the first that its first part starts with), and how
#: its detail names the category.
_ETHNIC_GROUPS: tuple[tuple[str, Callable[[str], str | None]], ...] = (
    ("mixed", _mixed), ("white", _white), ("asian", _asian), ("black", _black), ("other ethnic", _other))


def _ethnic(text: str) -> str | None:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) <= 1:
        return None
    detail = next((how for prefix, how in _ETHNIC_GROUPS if parts[0].startswith(prefix)), None)
    if detail is None:
        return None
    d = re.sub(r"[^a-z ]", " ", parts[-1])
    return detail(re.sub(r"\s+", " ", d).strip())


#: English proficiency: the first rule a cleaned label meets gives its category.
_ENGLISH_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda t: "does not apply" in t, "does_not_apply"),
    (lambda t: "cannot speak english well" in t, "not_well"),
    (lambda t: "cannot speak english" in t, "cannot"),
    (lambda t: "very well" in t, "very_well"),
    (lambda t: "speak english well" in t, "well"),
    (lambda t: t.startswith("main language is english"), "main_english"),
)
#: Country of birth, the same way.
_BIRTH_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda t: "united kingdom" in t and "other" not in t.split(":")[-1], "uk"),
    (lambda t: t.endswith("ireland") and "northern" not in t, "ireland"),
    (lambda t: "eu countries" in t and "non-eu" not in t and "non eu" not in t, "europe_eu"),
    (lambda t: "non-eu" in t or "non eu" in t, "europe_non_eu"),
    (lambda t: t.startswith("africa"), "africa"),
    (lambda t: t.startswith("middle east"), "middle_east_asia"),
    (lambda t: "americas" in t, "americas_caribbean"),
    (lambda t: "oceania" in t, "oceania_other"),
    (lambda t: "british overseas" in t, "british_overseas"),
)


def _first_rule(rules: tuple[tuple[Callable[[str], bool], str], ...], text: str) -> str | None:
    return next((category for meets, category in rules if meets(text)), None)


def _english(text: str) -> str | None:
    return _first_rule(_ENGLISH_RULES, text)


def _birth(text: str) -> str | None:
    return _first_rule(_BIRTH_RULES, text)


_MATCHERS = {ETHNIC_GROUP: _ethnic, ENGLISH_PROFICIENCY: _english, COUNTRY_OF_BIRTH: _birth}


def match_label(label: str, variable: str | None = None) -> tuple[str, str] | str | None:
    """Match a published column or category label to ``(variable, category)``.

    Returns
    -------
    tuple, str or None
        ``(variable, category)`` when the label names one category; :data:`TOTAL` when it names
        a total; None when it is not understood. ``variable`` restricts the search.
    """
    compact = re.sub(r"[^a-z]", "", label.lower())
    if compact in _COMPACT and (variable in (None, ETHNIC_GROUP)) and ":" not in label:
        return _COMPACT[compact]
    text = clean_label(label)
    if text.startswith("total") or text in {"all usual residents", "persons", "all persons"} \
            or "all usual residents" in text:
        return TOTAL
    for var, matcher in _MATCHERS.items():
        if variable is not None and var != variable:
            continue
        category = matcher(text)
        if category is not None:
            return var, category
        # slugs as stored are accepted too (our own long format)
        if text.replace(" ", "_") in CATEGORIES[var]:
            return var, text.replace(" ", "_")
    return None


def normalise_variable(value: str) -> str | None:
    """Map a variable name or a table title to a stored variable name."""
    text = value.strip().lower()
    if text in VARIABLES:
        return text
    if "ethnic" in text or text in {"ts021", "ks201ew"}:
        return ETHNIC_GROUP
    if "english" in text or "proficiency" in text or text in {"ts029", "qs205ew"}:
        return ENGLISH_PROFICIENCY
    if "birth" in text or text in {"ts004", "ks204ew"}:
        return COUNTRY_OF_BIRTH
    return None


def focal_groups(categories: Iterable[str]) -> dict[str, list[str]]:
    """Every ethnic category present (except ``unlisted``) and each high-level aggregate.

    Aggregates are named ``<group>_all``: ``white_all``, ``mixed_all``, ``asian_all``,
    ``black_all``, ``other_all`` (the sum of the group's categories present).
    """
    cats = [c for c in categories if c != UNLISTED]
    focal: dict[str, list[str]] = {c: [c] for c in cats}
    for group in HIGH_LEVEL_GROUPS:
        members = [c for c in cats if high_level_group(c) == group]
        if members:
            focal[f"{group}_all"] = members
    return focal
