"""Every read the CLI and the dashboard make, scoped to what is asked: one module per topic.

Each function takes an open DuckDB connection (the working store or a published snapshot) and
returns plain pandas or dicts; nothing here writes. One ward's profile reads that ward's output
areas and its local authority's, never the national tables. The rules every read shares live in
the schema (``assetmap/db/migrations/007_*.sql``), not here:

- ``census_latest`` and ``census_in(variable, level, unit)``: the latest census vintage; shares
  are of the residents whose category a table lists (the ``unlisted`` remainder left out of both
  sides), the same rule as the gap's need components;
- ``asset_supply``: an asset's capacity, or 1;
- ``public_assets``: what the public may see of a site.

Values are always parameters. The few identifiers chosen by a caller (a measure's column) come
from the fixed maps below, never from a request. Sensitive assets (refugee support venues,
women-only spaces) leave this module with a location only when ``partner`` is true; otherwise
they are counted per ward.

The topics: ``overview`` (the snapshot as a whole), ``measures`` (what a map shows), ``places``,
``profile`` (one ward's), ``rankings``, ``provenance``, ``history``, ``scorecards``,
``languages`` and ``watched`` (what an alert subscription watches), whose names are importable
from here as well; and ``dispersal`` (the Asy_D11 review), used as a module. A topic module is
imported when one of its names is first asked for, so a command that reads history does not pay
for the rest (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assetmap.queries.history import (
        CHANGE_KINDS,
        as_at_moments,
        change_records,
        changes,
        changes_by_ward,
        gaps_then_and_now,
        provision_timeline,
        tally_by_ward,
    )
    from assetmap.queries.languages import languages_spoken, ward_languages
    from assetmap.queries.measures import ACCESS_FIELDS, KINDS, LEVEL, Measure, measure_frame, measure_values
    from assetmap.queries.overview import (
        ethnic_groups,
        feature_collection,
        has_table_rows,
        la_wards,
        summary,
        ward,
        ward_count,
        ward_la,
        wards,
    )
    from assetmap.queries.places import (
        assets,
        assets_frame,
        assets_in_reach,
        religions,
        sensitive_counts,
        ward_map_layers,
    )
    from assetmap.queries.profile import (
        ACCESS_MODE_NOTE,
        WARD_VS_LA_SHARES,
        access_mode,
        access_sentences,
        population_mix,
        ptal_sentence,
        share_in,
        walking_area,
        ward_access,
        ward_gaps,
        ward_indices,
        ward_ptal,
        ward_vs_la,
        why,
    )
    from assetmap.queries.provenance import (
        analysed_since,
        events_timeline,
        ingests,
        layers,
        quarantine_reasons,
        quarantine_rows,
        repairs,
    )
    from assetmap.queries.rankings import compare_gaps, gap_ranking, partner_disagreements, unit_gaps, unit_indices
    from assetmap.queries.scorecards import la_ethnic_population, scorecard, scorecard_las
    from assetmap.queries.watched import gaps_watched, known_codes, sites_watched, ward_names

#: Which topic module holds each public name.
_WHERE: dict[str, str] = {
    "assets": "places",
    "assets_frame": "places",
    "assets_in_reach": "places",
    "religions": "places",
    "sensitive_counts": "places",
    "ward_map_layers": "places",
    "CHANGE_KINDS": "history",
    "as_at_moments": "history",
    "change_records": "history",
    "tally_by_ward": "history",
    "changes": "history",
    "changes_by_ward": "history",
    "gaps_then_and_now": "history",
    "provision_timeline": "history",
    "languages_spoken": "languages",
    "ward_languages": "languages",
    "ACCESS_FIELDS": "measures",
    "KINDS": "measures",
    "LEVEL": "measures",
    "Measure": "measures",
    "measure_frame": "measures",
    "measure_values": "measures",
    "ethnic_groups": "overview",
    "has_table_rows": "overview",
    "la_wards": "overview",
    "summary": "overview",
    "ward": "overview",
    "ward_la": "overview",
    "wards": "overview",
    "feature_collection": "overview",
    "ward_count": "overview",
    "analysed_since": "provenance",
    "events_timeline": "provenance",
    "ingests": "provenance",
    "layers": "provenance",
    "quarantine_reasons": "provenance",
    "quarantine_rows": "provenance",
    "repairs": "provenance",
    "compare_gaps": "rankings",
    "gap_ranking": "rankings",
    "partner_disagreements": "rankings",
    "unit_gaps": "rankings",
    "unit_indices": "rankings",
    "la_ethnic_population": "scorecards",
    "scorecard": "scorecards",
    "scorecard_las": "scorecards",
    "ACCESS_MODE_NOTE": "profile",
    "WARD_VS_LA_SHARES": "profile",
    "access_mode": "profile",
    "access_sentences": "profile",
    "population_mix": "profile",
    "ptal_sentence": "profile",
    "share_in": "profile",
    "walking_area": "profile",
    "ward_access": "profile",
    "ward_gaps": "profile",
    "ward_indices": "profile",
    "ward_ptal": "profile",
    "ward_vs_la": "profile",
    "why": "profile",
    "gaps_watched": "watched",
    "known_codes": "watched",
    "sites_watched": "watched",
    "ward_names": "watched",
}
#: The topic modules whose names are found here (a server imports them all before its first visitor).
TOPICS: tuple[str, ...] = tuple(sorted(set(_WHERE.values())))

__all__ = [
    "ACCESS_FIELDS",
    "ACCESS_MODE_NOTE",
    "CHANGE_KINDS",
    "KINDS",
    "LEVEL",
    "WARD_VS_LA_SHARES",
    "Measure",
    "access_mode",
    "access_sentences",
    "analysed_since",
    "as_at_moments",
    "assets",
    "assets_frame",
    "assets_in_reach",
    "change_records",
    "changes",
    "changes_by_ward",
    "compare_gaps",
    "ethnic_groups",
    "events_timeline",
    "feature_collection",
    "gap_ranking",
    "gaps_then_and_now",
    "gaps_watched",
    "has_table_rows",
    "ingests",
    "known_codes",
    "la_ethnic_population",
    "la_wards",
    "languages_spoken",
    "layers",
    "measure_frame",
    "measure_values",
    "partner_disagreements",
    "population_mix",
    "provision_timeline",
    "ptal_sentence",
    "quarantine_reasons",
    "quarantine_rows",
    "religions",
    "repairs",
    "scorecard",
    "scorecard_las",
    "sensitive_counts",
    "share_in",
    "sites_watched",
    "summary",
    "tally_by_ward",
    "unit_gaps",
    "unit_indices",
    "walking_area",
    "ward",
    "ward_access",
    "ward_count",
    "ward_gaps",
    "ward_indices",
    "ward_la",
    "ward_languages",
    "ward_map_layers",
    "ward_names",
    "ward_ptal",
    "ward_vs_la",
    "wards",
    "why",
]


def __getattr__(name: str) -> Any:
    """Return a public name, from the topic module that holds it (imported on first use)."""
    try:
        module = _WHERE[name]
    except KeyError:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg) from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
