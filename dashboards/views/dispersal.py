"""Dispersal review: supported asylum seekers per 10,000 residents against provision per 10,000."""

from __future__ import annotations

import altair as alt
import streamlit as st

from assetmap.dispersal import review
from dashboards import common


def main() -> None:
    common.header("Dispersal review")
    con, _ = common.snapshot()
    table = review(con)
    if table.empty or not table["supported"].any():
        st.info("No Home Office Asy_D11 figures are loaded in this snapshot: drop the latest 'Asylum seekers "
                "in receipt of support by local authority' file into the inbox.")
    if table.empty:
        st.stop()
    period = table["period"].dropna()
    st.caption("Asylum seekers in receipt of support"
               + (f" at {period.iloc[0]}" if len(period) else "")
               + ", per 10,000 residents (census), beside ESOL places and refugee support services per 10,000.")
    chart = alt.Chart(table).mark_circle(size=90, opacity=0.8).encode(
        x=alt.X("supported_per_10k:Q", title="supported asylum seekers per 10,000"),
        y=alt.Y("esol_places_per_10k:Q", title="ESOL places per 10,000"),
        size=alt.Size("residents:Q", legend=None),
        tooltip=["la_name", "la_code", "supported", alt.Tooltip("supported_per_10k:Q", format=".1f"),
                 alt.Tooltip("esol_places_per_10k:Q", format=".1f"),
                 alt.Tooltip("refugee_support_per_10k:Q", format=".2f")])
    st.altair_chart(chart, width="stretch")
    st.dataframe(table, hide_index=True, key="d-table")
    st.download_button("Download CSV", table.to_csv(index=False).encode("utf-8"), file_name="assetmap-dispersal.csv",
                       mime="text/csv", key="d-csv", on_click="ignore")


main()
