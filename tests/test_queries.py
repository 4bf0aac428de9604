"""The read layer: one convention for every share, and reads scoped to what is asked."""

from __future__ import annotations

import numpy as np
import pytest

from assetmap import queries, vocab
from assetmap.analysis import recompute


def _with_a_remainder(store) -> None:
    """Turn the demo's census into one with an ``unlisted`` remainder, as the real 2011 file has
    in 13% of OAs: in every other OA, one listed category's people become the remainder."""
    with store.transaction():
        store.con.execute(
            """UPDATE population SET category = ?
               WHERE hash(area_code) % 2 = 0 AND (variable, category) IN
                     (('country_of_birth', 'africa'), ('english_proficiency', 'very_well'),
                      ('ethnic_group', 'white_other'))""", [vocab.UNLISTED])
    assert store.scalar("SELECT count(DISTINCT area_code) FROM population WHERE category = ?", [vocab.UNLISTED]) > 10


@pytest.fixture
def remainder_store(analysed_store):
    _with_a_remainder(analysed_store)
    recompute(analysed_store)
    return analysed_store


def test_the_profile_s_shares_equal_the_gap_s_need_components_on_a_census_with_a_remainder(remainder_store):
    con = remainder_store.con
    need = con.execute("SELECT unit_code, component, raw FROM unit_need WHERE unit_level = 'ward'").df()
    raw = need.pivot(index="unit_code", columns="component", values="raw")
    wards = raw.index[:12].tolist()
    for code in wards:
        table = queries.ward_vs_la(con, code).set_index("measure")["ward"]
        assert table["Share born outside the UK"] == pytest.approx(raw.loc[code, "born_abroad"], rel=1e-12)
        assert table["Share who cannot speak English well or at all"] == pytest.approx(
            raw.loc[code, "esol_need"], rel=1e-12)


def test_the_remainder_is_no_group_and_counts_in_no_share(remainder_store):
    con = remainder_store.con
    code = con.execute("SELECT min(unit_code) FROM unit_gaps").fetchone()[0]
    mix = queries.population_mix(con, code)
    assert vocab.UNLISTED not in set(mix["group_code"])
    assert mix["share"].sum() == pytest.approx(1.0)
    listed = con.execute(
        """SELECT sum(p.count) FROM population p JOIN area_lookup l
             ON l.area_code = p.area_code AND l.parent_level = 'ward' AND l.parent_code = ?
           WHERE p.variable = 'ethnic_group' AND p.category <> ?""", [code, vocab.UNLISTED]).fetchone()[0]
    assert mix["residents"].sum() == listed


def test_one_ward_is_read_with_its_local_authority(analysed_store):
    con = analysed_store.con
    every = queries.wards(con).set_index("code")
    for code in every.index[:5]:
        one = queries.ward(con, code)
        assert one is not None
        assert (one["name"], one["la_code"], one["la_name"]) == tuple(every.loc[code, ["name", "la_code", "la_name"]])
    assert queries.ward(con, "E05999999") is None


def test_an_authority_s_wards_are_those_whose_most_output_areas_lie_in_it(analysed_store):
    con = analysed_store.con
    every = queries.wards(con)
    for la_code, grp in every.groupby("la_code"):
        assert sorted(queries.la_wards(con, la_code)) == sorted(grp["code"])


def test_a_ward_s_gaps_carry_their_rank_among_all_units(analysed_store):
    con = analysed_store.con
    code = con.execute("SELECT min(unit_code) FROM unit_gaps").fetchone()[0]
    gaps = queries.ward_gaps(con, code)
    n = con.execute("SELECT count(DISTINCT unit_code) FROM unit_gaps WHERE unit_level = 'ward'").fetchone()[0]
    assert set(gaps["of_units"]) == {n}
    assert set(gaps["category"]) == set(vocab.CATEGORIES)
    assert np.isfinite(gaps["gap"]).all()


def test_the_public_never_reads_a_sensitive_site(analysed_store):
    con = analysed_store.con
    public = queries.assets(con, list(vocab.CATEGORIES), None, partner=False)
    partner = queries.assets(con, list(vocab.CATEGORIES), None, partner=True)
    assert not public["sensitive"].any()
    assert partner["sensitive"].any()
    assert len(partner) - len(public) == con.execute("SELECT count(*) FROM assets WHERE sensitive").fetchone()[0]


def test_every_read_is_found_from_the_package_and_no_topic_module_hides_one():
    """``assetmap.queries`` names each read of its topic modules; a module named like one of its
    functions (``queries.ward``) would replace that function once imported, so none is."""
    import importlib

    topics = set(queries._WHERE.values())
    assert set(queries.TOPICS) == topics and not topics & set(queries.__all__)
    assert sorted(queries._WHERE) == sorted(queries.__all__)
    for name, topic in queries._WHERE.items():
        module = importlib.import_module(f"assetmap.queries.{topic}")
        assert getattr(queries, name) is getattr(module, name), name
    # and a dashboard server imports every topic before its first visitor
    from dashboards.serve import WARM

    assert {f"assetmap.queries.{t}" for t in topics} <= set(WARM)
