"""Dispersal review: a region's authorities over the quarters loaded, supported asylum seekers per
10,000 residents beside ESOL places and refugee support per 10,000."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from assetmap import dispersal_trend
from assetmap.csvout import to_csv_bytes
from dashboards import common

_ALL = "__all__"


def _label(row: pd.Series) -> str:
    return f"{row['la_name'] or row['la_code']} ({row['la_code']})"


def main() -> None:
    common.header("Dispersal review")
    con, _ = common.snapshot()
    regions = dispersal_trend.regions(con)
    if not regions and dispersal_trend.trend(con).empty:
        st.info("No Home Office Asy_D11 figures are loaded in this snapshot: drop the latest 'Asylum seekers "
                "in receipt of support by local authority' workbook (or its data sheet saved as CSV) into "
                "the inbox.")
        st.stop()
    options = {r: r for r in regions} | {_ALL: "Every region loaded"}
    home = dispersal_trend.home_region(con)
    with st.sidebar:
        region = common.choice("Region or nation (Asy_D11)", options, home, key="d-region")
        dates = sorted(dispersal_trend.trend(con, region=None if region == _ALL else region)["period"].unique())
        since = common.choice("From", {str(d): d.strftime("%d %b %Y") for d in dates},
                              str(dates[0]) if dates else None, key="d-from") if dates else None
    table = dispersal_trend.trend(con, region=None if region == _ALL else region, since=since)
    if table.empty:
        st.info("No Asy_D11 figures for this region from that date.")
        st.stop()
    table["authority"] = table.apply(_label, axis=1)
    first, last = table["period"].min(), table["period"].max()
    bases = "; ".join(sorted(table["residents_basis"].dropna().unique())) or "not loaded"
    st.caption(common.md(
        f"Asylum seekers in receipt of support, {first:%d %b %Y} to {last:%d %b %Y} "
        f"({table['period'].nunique()} dates), per 10,000 residents. Source: {dispersal_trend.SOURCE}. "
        f"Residents: {bases}. ESOL places and refugee support: the assets in this snapshot (today's "
        "provision at every date); blank where the authority's areas are not loaded. "
        f"Suppressed cells: {int(table['suppressed_cells'].sum())}, counted as nothing."))

    st.subheader("Over time: supported asylum seekers per 10,000 residents")
    trend = alt.Chart(table.dropna(subset=["supported_per_10k"])).mark_line(point=True).encode(
        x=alt.X("period:T", title="date (as at)"),
        y=alt.Y("supported_per_10k:Q", title="supported per 10,000"),
        color=alt.Color("authority:N", title="local authority"),
        tooltip=["authority", alt.Tooltip("period:T", format="%d %b %Y"), "supported", "suppressed_cells",
                 alt.Tooltip("supported_per_10k:Q", format=".1f"), "residents_basis"])
    st.altair_chart(trend, width="stretch")

    st.subheader("Change since the first date, beside ESOL places per 10,000 now")
    grown = dispersal_trend.growth(table)
    st.dataframe(grown, hide_index=True, key="d-growth")

    latest = table[table["period"] == last].sort_values("supported_per_10k", ascending=False)
    st.subheader(f"At {last:%d %b %Y}")
    chart = alt.Chart(latest.dropna(subset=["supported_per_10k", "esol_places_per_10k"])).mark_circle(
        size=90, opacity=0.8).encode(
        x=alt.X("supported_per_10k:Q", title="supported asylum seekers per 10,000"),
        y=alt.Y("esol_places_per_10k:Q", title="ESOL places per 10,000"),
        size=alt.Size("residents:Q", legend=None),
        tooltip=["authority", "supported", alt.Tooltip("supported_per_10k:Q", format=".1f"),
                 alt.Tooltip("esol_places_per_10k:Q", format=".1f"),
                 alt.Tooltip("refugee_support_per_10k:Q", format=".2f")])
    st.altair_chart(chart, width="stretch")
    st.dataframe(latest.drop(columns="authority"), hide_index=True, key="d-table")
    st.download_button("Download the figures over time (CSV)", to_csv_bytes(table.drop(columns="authority")),
                       file_name="assetmap-dispersal.csv", mime="text/csv", key="d-csv",
                       on_click="ignore")


main()
