"""Race equality scorecards: the seven areas of a local race disparity audit, and the groups.

After the Runnymede Trust's local Race Equality Scorecards (2010 onwards), which bring together,
per local authority and ethnic group, indicators in education, employment, housing, health,
criminal justice, civic participation and support for the BME voluntary sector, each set against
a reference group (usually White British) as a disparity ratio.
"""

from __future__ import annotations

import re

#: domain slug -> label, in the scorecard's order
DOMAINS: dict[str, str] = {
    "education": "Education",
    "employment": "Employment",
    "housing": "Housing",
    "health": "Health",
    "criminal_justice": "Criminal justice",
    "civic_participation": "Civic participation",
    "bme_voluntary_sector": "Support for the BME voluntary sector",
}
_DOMAIN_ALIASES = {
    "criminaljustice": "criminal_justice", "justice": "criminal_justice", "policing": "criminal_justice",
    "civicparticipation": "civic_participation", "civic": "civic_participation",
    "participation": "civic_participation", "bmevoluntarysector": "bme_voluntary_sector",
    "supportforthebmevoluntarysector": "bme_voluntary_sector", "voluntarysector": "bme_voluntary_sector",
    "supportforbmevoluntarysector": "bme_voluntary_sector", "work": "employment", "jobs": "employment",
    "schools": "education",
}

#: what scorecards call a group -> the census ethnic categories it sums (2021 slugs)
GROUP_CATEGORIES: dict[str, tuple[str, ...]] = {
    "white british": ("white_british",), "white irish": ("white_irish",), "irish": ("white_irish",),
    "gypsy or irish traveller": ("white_gypsy_traveller",), "gypsy traveller": ("white_gypsy_traveller",),
    "roma": ("white_roma",), "other white": ("white_other",), "white other": ("white_other",),
    "indian": ("asian_indian",), "pakistani": ("asian_pakistani",), "bangladeshi": ("asian_bangladeshi",),
    "chinese": ("asian_chinese",), "other asian": ("asian_other",),
    "black african": ("black_african",), "african": ("black_african",),
    "black caribbean": ("black_caribbean",), "caribbean": ("black_caribbean",), "other black": ("black_other",),
    "arab": ("other_arab",), "any other ethnic group": ("other_any",),
    "mixed": ("mixed_white_asian", "mixed_white_black_african", "mixed_white_black_caribbean", "mixed_other",
              "mixed"),
    "white and black caribbean": ("mixed_white_black_caribbean",),
    "white and black african": ("mixed_white_black_african",), "white and asian": ("mixed_white_asian",),
    "asian": ("asian_indian", "asian_pakistani", "asian_bangladeshi", "asian_chinese", "asian_other"),
    "black": ("black_african", "black_caribbean", "black_other"),
    "white": ("white_british", "white_irish", "white_gypsy_traveller", "white_roma", "white_other"),
    "bme": ("asian_indian", "asian_pakistani", "asian_bangladeshi", "asian_chinese", "asian_other",
            "black_african", "black_caribbean", "black_other", "mixed_white_asian", "mixed_white_black_african",
            "mixed_white_black_caribbean", "mixed_other", "mixed", "other_arab", "other_any"),
}
GROUP_CATEGORIES["all bme"] = GROUP_CATEGORIES["bme"]
GROUP_CATEGORIES["black, asian and minority ethnic"] = GROUP_CATEGORIES["bme"]
GROUP_CATEGORIES["all"] = GROUP_CATEGORIES["white"] + GROUP_CATEGORIES["bme"]


def normalise_domain(value: str) -> str | None:
    """Return a domain slug for what a file says (``Criminal Justice`` -> ``criminal_justice``), or None."""
    key = re.sub(r"[^a-z]", "", str(value).lower())
    for slug, label in DOMAINS.items():
        if key in (slug.replace("_", ""), re.sub(r"[^a-z]", "", label.lower())):
            return slug
    return _DOMAIN_ALIASES.get(key)


def group_categories(group: str) -> tuple[str, ...]:
    """Return the census categories a scorecard group sums (none: its population is not known)."""
    key = re.sub(r"\s+", " ", re.sub(r"[^a-z, ]", " ", str(group).lower().replace("&", "and"))).strip()
    key = re.sub(r"^(asian|black|white|mixed)(,)? (asian british|black british)?\s*:?\s*", r"\1 ", key).strip()
    return GROUP_CATEGORIES.get(key, GROUP_CATEGORIES.get(key.replace(",", ""), ()))
