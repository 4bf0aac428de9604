"""The vocabulary, in one place.

What the store's constraints, the readers, the analysis, the CLI and the dashboard all call things.

- :mod:`~assetmap.vocab.categories`: asset categories, their labels and aliases, sensitive
  categories, religions, ESOL levels and the attributes the sector records.
- :mod:`~assetmap.vocab.census_variables`: census variables and their categories, focal groups.
- :mod:`~assetmap.vocab.index_names`: segregation index names and labels.
- :mod:`~assetmap.vocab.units`: geographic levels.
- :mod:`~assetmap.vocab.event_names`: event names.

The census names are re-exported flat (``vocab.ETHNIC_GROUP``), as are the index names and levels.
"""

from __future__ import annotations

from assetmap.vocab.categories import (
    ATTRIBUTES,
    CATEGORIES,
    CATEGORY_LABELS,
    ESOL_LEVELS,
    RELIGIONS,
    SENSITIVE_CATEGORIES,
)
from assetmap.vocab.census_variables import (
    BIRTH_CATEGORIES,
    COUNTRY_OF_BIRTH,
    ENGLISH_CATEGORIES,
    ENGLISH_PROFICIENCY,
    ESOL_NEED_CATEGORIES,
    ETHNIC_AGGREGATES,
    ETHNIC_CATEGORIES,
    ETHNIC_GROUP,
    HIGH_LEVEL_GROUPS,
    SUBTOTAL,
    TOTAL,
    UNLISTED,
    VARIABLES,
    clean_label,
    focal_groups,
    high_level_group,
    match_label,
    normalise_variable,
)
from assetmap.vocab.event_names import EVENT_NAMES
from assetmap.vocab.index_names import (
    ALL_GROUPS,
    INDEX_LABELS,
    INDEX_NAMES,
    LOCATION_QUOTIENT,
    MULTIGROUP_INDICES,
    TWO_GROUP_INDICES,
    group_label,
    is_multigroup,
)
from assetmap.vocab.units import BASE_LEVEL, DEFAULT_UNIT, LEVEL_LABELS, LEVELS, PARENT_LEVELS

__all__ = [
    "ALL_GROUPS", "ATTRIBUTES", "BASE_LEVEL", "BIRTH_CATEGORIES", "CATEGORIES", "CATEGORY_LABELS",
    "COUNTRY_OF_BIRTH", "DEFAULT_UNIT", "ENGLISH_CATEGORIES", "ENGLISH_PROFICIENCY", "ESOL_LEVELS",
    "ESOL_NEED_CATEGORIES", "ETHNIC_AGGREGATES", "ETHNIC_CATEGORIES", "ETHNIC_GROUP", "EVENT_NAMES",
    "HIGH_LEVEL_GROUPS", "INDEX_LABELS", "INDEX_NAMES", "LEVELS", "LEVEL_LABELS", "LOCATION_QUOTIENT",
    "MULTIGROUP_INDICES", "PARENT_LEVELS", "RELIGIONS", "SENSITIVE_CATEGORIES", "SUBTOTAL", "TOTAL",
    "TWO_GROUP_INDICES", "UNLISTED", "VARIABLES", "clean_label", "focal_groups", "group_label",
    "high_level_group", "is_multigroup", "match_label", "normalise_variable",
]
