"""Gaps ranking: wards by provision gap for a category, filterable, downloadable as CSV."""

from __future__ import annotations

import streamlit as st

from assetmap import vocab
from assetmap.csvout import to_csv_bytes
from assetmap.vocab.headings import worded
from dashboards import common
from dashboards.views_shared import read


def main() -> None:
    common.header("Gaps ranking")
    con, path = common.snapshot()
    v = common.view()
    common.require(con, "unit_gaps", common.NO_GAPS)
    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        category = common.choice("Category", vocab.CATEGORY_LABELS, v.get("category"), key="g-category")
    table = read(str(path), "gap_ranking", category)  # once per snapshot and category, for every session
    with c2:
        las = sorted(table["la_name"].dropna().unique())
        chosen = st.multiselect("Local authorities", las, key="g-la", placeholder="all")
    with c3:
        flagged = st.checkbox("Flagged only", key="g-flagged",
                              help="high need with low provision, or no provision within reach")
    search = st.text_input("Ward name or code contains", key="g-search")
    common.set_view(category=category)
    if chosen:
        table = table[table["la_name"].isin(chosen)]
    if flagged:
        table = table[table["flags"].str.contains("high_need_low_provision|no_provision_within_reach", regex=True)]
    if search:
        s = search.strip().lower()
        table = table[table["name"].str.lower().str.contains(s, regex=False) | table["code"].str.lower().str.contains(
            s, regex=False)]
    st.caption(f"{len(table)} wards · gap = need - supply (each 0 to 1); rank 1 = largest gap · 'why' lists the "
               "largest components")
    common.table(table, key="g-table",
                 column_config={"gap": st.column_config.NumberColumn(format="%.3f"),
                                "need": st.column_config.NumberColumn(format="%.3f"),
                                "supply": st.column_config.NumberColumn(format="%.3f")})
    st.download_button("Download CSV", to_csv_bytes(worded(table)),
                       file_name=f"assetmap-gaps-{category}.csv", mime="text/csv", key="g-csv", on_click="ignore")


main()
