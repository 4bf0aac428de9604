"""Dispersal review: a region's authorities over the quarters loaded, supported asylum seekers per
10,000 residents beside ESOL places and refugee support per 10,000."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from assetmap.csvout import to_csv_bytes
from assetmap.queries import dispersal
from assetmap.vocab.headings import worded
from dashboards import common

_ALL = "__all__"
#: What a person reads at the head of this page's columns, where it differs from other pages'.
_HEADINGS = {
    "la_code": "Code", "la_name": "Local authority", "region": "Region or nation", "period": "Date (as at)",
    "residents": "Residents", "residents_basis": "Residents from", "supported": "Supported asylum seekers",
    "suppressed_cells": "Suppressed cells", "supported_per_10k": "Supported per 10,000",
    "esol_places": "ESOL places", "esol_places_per_10k": "ESOL places per 10,000",
    "refugee_support": "Refugee support services", "refugee_support_per_10k": "Refugee support per 10,000",
    "places_per_supported": "ESOL places per supported person", "provision_basis": "Provision counted",
    "carried_from": "Retired codes summed in", "series_note": "Series break", "first": "First date",
    "last": "Last date", "supported_per_10k_first": "Supported per 10,000, first date",
    "supported_per_10k_last": "Supported per 10,000, last date", "change_per_10k": "Change per 10,000",
    "code": "Retired code", "name": "Retired authority", "today": "Today's code",
    "today_name": "Today's authority", "date": "From", "change": "Change", "reference": "Order (ONS code history)",
}


def _table(df: pd.DataFrame, key: str) -> None:
    """A table with this page's words at the head of its columns (the others': assetmap.vocab.headings)."""
    common.table(df, key=key, headings=_HEADINGS)


def _label(row: pd.Series) -> str:
    return f"{row['la_name'] or row['la_code']} ({row['la_code']})"


def main() -> None:
    common.header("Dispersal review")
    con, _ = common.snapshot()
    regions = dispersal.regions(con)
    if not regions and dispersal.trend(con).empty:
        st.info("No Home Office Asy_D11 figures are loaded in this snapshot: drop the latest 'Asylum seekers "
                "in receipt of support by local authority' workbook (or its data sheet saved as CSV) into "
                "the inbox.")
        st.stop()
    options = {r: r for r in regions} | {_ALL: "Every region loaded"}
    home = dispersal.home_region(con)
    with st.sidebar:
        region = common.choice("Region or nation (Asy_D11)", options, home, key="d-region")
        dates = sorted(dispersal.trend(con, region=None if region == _ALL else region)["period"].unique())
        since = common.choice("From", {str(d): d.strftime("%d %b %Y") for d in dates},
                              str(dates[0]) if dates else None, key="d-from") if dates else None
        published = st.toggle("Codes as published", value=False, key="d-published",
                              help="Off: districts that later merged, and codes replaced after a boundary "
                                   "change, are summed into today's authorities (one unbroken line each).")
    table = dispersal.trend(con, region=None if region == _ALL else region, since=since,
                                  current=not published)
    if table.empty:
        st.info("No Asy_D11 figures for this region from that date.")
        st.stop()
    table["authority"] = table.apply(_label, axis=1)
    first, last = table["period"].min(), table["period"].max()
    bases = "; ".join(sorted(table["residents_basis"].dropna().unique())) or "not loaded"
    before = table.loc[table["provision_basis"].fillna("").str.startswith("as first loaded"), "period"]
    provision = (f"dates to {before.max():%d %b %Y} precede the earliest history loaded and take provision as "
                 f"first loaded: {table['provision_basis'].dropna().iloc[0].removeprefix('as first loaded, ')}"
                 if len(before) else "every date within it")
    st.caption(common.md(
        f"Asylum seekers in receipt of support, {first:%d %b %Y} to {last:%d %b %Y} "
        f"({table['period'].nunique()} dates), per 10,000 residents. Source: {dispersal.SOURCE}. "
        f"Residents: {bases}. ESOL places and refugee support: the sites open at each date, from their "
        f"history ({provision}); blank where the authority's areas are not loaded. "
        f"Suppressed cells: {int(table['suppressed_cells'].sum())}, counted as nothing."))

    for b in dispersal.breaks(con, within=table["period"]):
        st.warning(common.md(b.said()), icon=":material/timeline:")
    merged = {c for cs in table["carried_from"].dropna() for c in cs.split(", ")}
    if merged:
        moved = dispersal.carried_forward(con)
        with st.expander(f"On today's authorities: {len(merged)} retired codes summed into their successors"):
            _table(moved[moved["code"].isin(merged)], "d-moved")

    rates = bool(table["supported_per_10k"].notna().any())
    measure, measure_title = ("supported_per_10k", "supported per 10,000") if rates else ("supported", "supported")
    if rates:
        st.subheader("Over time: supported asylum seekers per 10,000 residents")
    else:
        st.subheader("Over time: supported asylum seekers")
        st.info("No residents are loaded for these authorities, so the figures are counts, not rates: drop ONS "
                "mid-year population estimates (or the census) into the inbox for rates per 10,000.")
    breaks_at = pd.DataFrame({"period": sorted({d for d, n in zip(table["period"], table["series_note"],
                                                                     strict=True) if n})})
    rules = alt.Chart(breaks_at).mark_rule(strokeDash=[4, 4], color="#888").encode(
        x="period:T", tooltip=[alt.Tooltip("period:T", title="series break at", format="%d %b %Y")])
    trend = alt.Chart(table.dropna(subset=[measure])).mark_line(point=True).encode(
        x=alt.X("period:T", title="date (as at)"),
        y=alt.Y(f"{measure}:Q", title=measure_title),
        color=alt.Color("authority:N", title="local authority"),
        tooltip=common.tooltips("authority", alt.Tooltip("period:T", format="%d %b %Y"), "supported",
                                "suppressed_cells", alt.Tooltip("supported_per_10k:Q", format=".1f"),
                                "residents_basis", "carried_from"))
    st.altair_chart(trend + rules if len(breaks_at) else trend, width="stretch")
    if len(breaks_at):
        st.caption("Dashed lines: dates at which the publisher left some of this support unallocated to "
                   "authorities (the notes above).")

    if rates:
        st.subheader("Change since the first date, beside ESOL places per 10,000 now")
        grown = dispersal.growth(table)
        _table(grown, "d-growth")

    latest = table[table["period"] == last].sort_values(measure, ascending=False)
    st.subheader(f"At {last:%d %b %Y}")
    chart = alt.Chart(latest.dropna(subset=["supported_per_10k", "esol_places_per_10k"])).mark_circle(
        size=90, opacity=0.8).encode(
        x=alt.X("supported_per_10k:Q", title="supported asylum seekers per 10,000"),
        y=alt.Y("esol_places_per_10k:Q", title="ESOL places per 10,000"),
        size=alt.Size("residents:Q", legend=None),
        tooltip=common.tooltips("authority", "supported", alt.Tooltip("supported_per_10k:Q", format=".1f"),
                                alt.Tooltip("esol_places_per_10k:Q", format=".1f"),
                                alt.Tooltip("refugee_support_per_10k:Q", format=".2f")))
    if rates:
        st.altair_chart(chart, width="stretch")
    _table(latest.drop(columns="authority"), "d-table")
    st.download_button("Download the figures over time (CSV)",
                       to_csv_bytes(worded(table.drop(columns="authority"), _HEADINGS)),
                       file_name="assetmap-dispersal.csv", mime="text/csv", key="d-csv",
                       on_click="ignore")


main()
