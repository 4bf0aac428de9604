"""Geographic levels: the areas a store holds and the units the analysis reports on.

Codes are ONS GSS codes (wards ``E05``/``W05``, output areas ``E00``/``W00``, LSOAs ``E01``,
MSOAs ``E02``, local authorities ``E06``-``E09``/``W06``).
"""

from __future__ import annotations

#: Every level of area a store may hold, smallest first.
LEVELS: tuple[str, ...] = ("oa", "lsoa", "msoa", "ward", "la")
#: The building block: census counts come per output area.
BASE_LEVEL = "oa"
#: An output area's code (England, Wales, Scotland, Northern Ireland), as a regular expression.
OA_RE = "^[EWSN]00"
#: Levels an output area can be looked up to (``area_lookup.parent_level``).
PARENT_LEVELS: tuple[str, ...] = tuple(lvl for lvl in LEVELS if lvl != BASE_LEVEL)
#: The unit of analysis by default; ``msoa`` or ``la`` where data comes without wards.
DEFAULT_UNIT = "ward"

LEVEL_LABELS: dict[str, str] = {
    "oa": "Output area", "lsoa": "LSOA", "msoa": "MSOA", "ward": "Ward", "la": "Local authority",
}


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    """Return the fixed vocabulary values as a SQL ``IN`` list for a CHECK constraint (never user input)."""
    for v in values:
        if not v.replace("_", "").isalnum():
            msg = f"not a vocabulary word: {v!r}"
            raise ValueError(msg)
    return ", ".join(f"'{v}'" for v in values)
