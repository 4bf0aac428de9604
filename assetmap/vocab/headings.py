"""What a person reads at the head of a column: words, not the store's column names.

The dashboard's tables and the CSVs people download from it head each column with
:func:`heading`: a column named here gets its words (``supported_per_10k`` → "Supported per
10,000"); any other is written out from its name (``rows_read`` → "Rows read"), so no reader
meets a name with underscores in it. Codes stay in columns of their own ("Ward code"). The
command line's exports keep the store's names: they are read by programs.
"""

from __future__ import annotations

import re

import pandas as pd

HEADINGS: dict[str, str] = {
    # places
    "ward": "Ward", "ward_name": "Ward", "ward_code": "Ward code", "code": "Code", "name": "Name",
    "la_code": "Authority code", "la_name": "Local authority", "local_authority": "Local authority",
    "region": "Region or nation", "unit_code": "Ward code", "in_ward": "In the ward",
    # measures
    "measure": "Measure", "index": "Index", "value": "Value", "ci_low": "Lower bound (95 %)",
    "ci_high": "Upper bound (95 %)", "reliable": "Reliable", "n_oas": "Output areas",
    "category": "Category", "subtype": "Kind", "demand_basis": "Demand counted", "demand": "Demand",
    "access_mode": "Measured", "nearest_m": "Nearest (m)", "nearest_min": "Nearest (minutes' walk)",
    "crow_m": "Nearest as the crow flies (m)", "share_within_800": "Share within 800 m",
    "share_within_1600": "Share within 1,600 m", "mean_n_1600": "Providers within 1,600 m (mean)",
    "e2sfca": "Providers per resident in reach (E2SFCA)", "assets_in_unit": "Assets in the ward",
    "capacity_in_unit": "Capacity in the ward", "gap": "Gap", "need": "Need", "supply": "Supply",
    "gap_before": "Gap before", "gap_after": "Gap after", "gap_now": "Gap now", "delta": "Change in gap",
    "rank": "Rank", "rank_before": "Rank before", "rank_after": "Rank after", "rank_now": "Rank now",
    "flags": "Flags", "why": "Why", "covered_demand": "Demand newly in reach",
    "authority": "Local authority", "open_sites": "Sites open", "component": "Component", "weight": "Weight",
    "raw": "Raw value", "scaled": "Scaled (0 to 1)", "contribution": "Contribution to the gap", "group": "Group",
    "where": "Where", "proportion": "Proportion",
    # buses
    "route": "Route", "mode": "Mode", "share_of_oas": "Share of its output areas",
    "median_walk_m": "Median walk to a stop (m)", "per_hour": "Departures an hour",
    "median_part": "Median part of the access index",
    # languages
    "main language": "Main language", "speakers": "Speakers", "share": "Share", "providers": "Providers",
    "covered": "Speakers in reach", "language_gap": "Language gap",
    # assets
    "address": "Address", "postcode": "Postcode", "website": "Website", "source": "Source",
    "distance_m": "Distance (m)", "moved_m": "Moved (m)", "capacity": "Capacity",
    # dispersal
    "period": "Date (as at)", "residents": "Residents", "residents_basis": "Residents from",
    "supported": "Supported asylum seekers", "suppressed_cells": "Suppressed cells",
    "supported_per_10k": "Supported per 10,000", "esol_places": "ESOL places",
    "esol_places_per_10k": "ESOL places per 10,000", "refugee_support": "Refugee support services",
    "refugee_support_per_10k": "Refugee support per 10,000",
    "places_per_supported": "ESOL places per supported person", "provision_basis": "Provision counted",
    "carried_from": "Retired codes summed in", "series_note": "Series break", "first": "First date",
    "last": "Last date", "supported_per_10k_first": "Supported per 10,000, first date",
    "supported_per_10k_last": "Supported per 10,000, last date", "change_per_10k": "Change per 10,000",
    # changes and provenance
    "at": "Date", "change": "Change", "opened": "Opened", "reopened": "Reopened", "moved": "Moved",
    "closed": "Closed", "net": "Net", "layer": "Layer", "licence": "Licence", "vintage": "Vintage",
    "rows": "Rows", "ingests": "Ingests", "ingest_id": "Ingest", "path": "File", "kind": "Kind",
    "status": "Status", "rows_read": "Rows read", "rows_accepted": "Rows stored",
    "rows_quarantined": "Rows quarantined", "started_at": "Started", "message": "Message",
    "reason_code": "Reason", "occurred_at": "When", "payload": "Details",
}

_UNITS = ((re.compile(r"_per_10k$"), " per 10,000"), (re.compile(r"_m$"), " (m)"), (re.compile(r"_min$"), " (minutes)"))


def heading(column: str) -> str:
    """Return the words at the head of ``column``: its own (:data:`HEADINGS`), or its name written out."""
    if column in HEADINGS:
        return HEADINGS[column]
    text = str(column)
    for pattern, words in _UNITS:
        text = pattern.sub(words, text)
    text = text.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def worded(frame: pd.DataFrame, overrides: dict[str, str] | None = None) -> pd.DataFrame:
    """``frame`` with words at the head of its columns (``overrides`` first, then :func:`heading`)."""
    words = overrides or {}
    return frame.rename(columns=lambda c: words.get(c) or heading(c))
