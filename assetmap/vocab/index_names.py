"""Segregation index names and labels: the store's CHECK, the readers, the analysis and the pages read them here.

The indices themselves are computed in :mod:`assetmap.segregation`; this module only names them.
"""

from __future__ import annotations

#: Indices of one focal group against the rest (Duncan & Duncan 1955; Bell 1954; Massey & Denton 1988).
TWO_GROUP_INDICES: tuple[str, ...] = ("dissimilarity", "isolation", "exposure", "correlation_ratio", "gini")
#: Indices over every group at once (Theil 1972; Reardon & Firebaugh 2002).
MULTIGROUP_INDICES: tuple[str, ...] = ("theil_h", "multigroup_dissimilarity", "simpson_interaction",
                                       "simpson_concentration", "entropy")
#: The location quotient is a two-group measure of one unit within its region.
LOCATION_QUOTIENT = "location_quotient"
INDEX_NAMES: tuple[str, ...] = (*TWO_GROUP_INDICES, *MULTIGROUP_INDICES, LOCATION_QUOTIENT)
#: Name of the focal group of the multigroup (and diversity) indices.
ALL_GROUPS = "all"

INDEX_LABELS: dict[str, str] = {
    "dissimilarity": "Dissimilarity D", "isolation": "Isolation", "exposure": "Exposure",
    "correlation_ratio": "Correlation ratio", "gini": "Gini", "location_quotient": "Location quotient",
    "theil_h": "Theil's H (multigroup)", "multigroup_dissimilarity": "Multigroup D",
    "simpson_interaction": "Simpson's interaction", "simpson_concentration": "Simpson's concentration",
    "entropy": "Entropy (diversity)",
}


def is_multigroup(index_name: str) -> bool:
    """Whether ``index_name`` is computed over all groups (its focal group is :data:`ALL_GROUPS`)."""
    return index_name in MULTIGROUP_INDICES


def group_label(group: str) -> str:
    """Return a focal group's label: ``all groups``, ``Asian (all)``, ``White British``."""
    if group == ALL_GROUPS:
        return "all groups"
    if group.endswith("_all"):
        return f"{group[:-4].title()} (all)"
    return group.replace("_", " ").title()
