"""One vocabulary: the store's constraints, the readers and the pages read the same words."""

from __future__ import annotations

import re

import duckdb
import pytest

from assetmap import queries, vocab


def _check_values(store, table: str, column: str) -> set[str]:
    texts = [r[0] for r in store.con.execute(
        "SELECT constraint_text FROM duckdb_constraints() WHERE table_name = ? AND constraint_type = 'CHECK'",
        [table]).fetchall()]
    text = next(t for t in texts if re.search(rf"\b{column}\b.*\bIN\b", t))
    return set(re.findall(r"'([^']+)'", text))


@pytest.mark.parametrize(("table", "column", "words"), [
    ("unit_indices", "index_name", vocab.INDEX_NAMES),
    ("assets", "category", tuple(vocab.CATEGORIES)),
    ("areas", "level", vocab.LEVELS),
    ("area_lookup", "parent_level", vocab.PARENT_LEVELS),
])
def test_a_new_store_s_constraints_are_the_vocabulary(store, table, column, words):
    assert _check_values(store, table, column) == set(words)


def test_a_word_outside_the_vocabulary_is_refused_by_the_store(store):
    with pytest.raises(duckdb.ConstraintException):
        store.con.execute("INSERT INTO unit_indices (unit_level, unit_code, focal_group, index_name, value, "
                          "reliable, n_oas, computed_at) VALUES ('ward', 'E05000001', 'all', 'made_up', 0.1, "
                          "true, 5, now())")


def test_every_index_has_a_label_and_every_category_a_plural():
    assert set(vocab.INDEX_LABELS) == set(vocab.INDEX_NAMES)
    assert set(vocab.CATEGORY_LABELS) == set(vocab.CATEGORIES)


def test_the_map_offers_every_index_and_every_category():
    for name in vocab.INDEX_NAMES:
        assert queries.Measure("index", index=name).label.startswith(vocab.INDEX_LABELS[name])
    for cat in vocab.CATEGORIES:
        assert vocab.CATEGORY_LABELS[cat] in queries.Measure("gap", category=cat).label


def test_focal_groups_leave_out_the_remainder_and_add_the_high_level_groups():
    groups = vocab.focal_groups(["white_british", "asian_indian", "asian_pakistani", vocab.UNLISTED])
    assert groups["asian_all"] == ["asian_indian", "asian_pakistani"]
    assert vocab.UNLISTED not in groups and "white_all" in groups


def test_the_indices_computed_are_the_indices_named():
    from assetmap import segregation

    assert tuple(segregation.TWO_GROUP) == vocab.TWO_GROUP_INDICES
    assert tuple(segregation.MULTIGROUP) == vocab.MULTIGROUP_INDICES
