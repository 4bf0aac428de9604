"""Changes: what opened, closed or moved, where and when, from the assets' history.

A timeline of provision per category, the changes of a chosen period counted per ward and
listed, a map of them (closures where the site was), and, where gaps were computed as at a past
date (``assetmap recompute --as-at``), each ward's gap then beside now. A public visitor reads
the public snapshot, which holds no sensitive site's history.
"""

from __future__ import annotations

import datetime as _dt

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from assetmap import queries, vocab
from assetmap.csvout import to_csv_bytes
from assetmap.vocab.headings import worded
from dashboards import common, maps, subscribe


@st.cache_data(max_entries=16, show_spinner=False)
def _changes(path: str, partner: bool) -> pd.DataFrame:
    return queries.changes(common.snapshot_at(path), partner=partner)


@st.cache_data(max_entries=16, show_spinner=False)
def _timeline(path: str, partner: bool) -> pd.DataFrame:
    return queries.provision_timeline(common.snapshot_at(path), partner=partner)


def main() -> None:
    common.header("Changes")
    con, path = common.snapshot()
    partner = common.partner_mode()
    timeline = _timeline(str(path), partner)
    if timeline.empty:
        st.info("No history yet: it starts with the first provider file (`assetmap ingest … --effective DATE` "
                "loads older files, oldest first).")
        st.stop()
    every = _changes(str(path), partner)
    first = pd.Timestamp(timeline["at"].min()).date()
    today = _dt.date.today()
    c1, c2 = st.columns([2, 3])
    with c1:
        period = st.date_input("Period", value=(first, today), min_value=first, max_value=today, key="ch-period")
    with c2:
        chosen = st.multiselect("Categories", list(vocab.CATEGORY_LABELS),
                                format_func=lambda c: vocab.CATEGORY_LABELS.get(c, c),
                                key="ch-categories", placeholder="all")
    start, end = (period[0], period[1]) if isinstance(period, tuple) and len(period) == 2 else (first, today)
    cats = chosen or list(vocab.CATEGORY_LABELS)
    line = timeline[timeline["category"].isin(cats)].assign(
        category=lambda d: d["category"].map(vocab.CATEGORY_LABELS))
    st.subheader("Provision over time")
    st.altair_chart(alt.Chart(line).mark_line(interpolate="step-after", point=True).encode(
        x=alt.X("at:T", title="date", axis=alt.Axis(format="%d %b %Y", labelAngle=-30)),
        y=alt.Y("open_sites:Q", title="sites open"), color=alt.Color("category:N", title=None),
        tooltip=common.tooltips("category", alt.Tooltip("at:T", title="Date", format="%d %b %Y"), "open_sites")),
        width="stretch")
    lo = pd.Timestamp(start)
    hi = pd.Timestamp(end) + pd.Timedelta(days=1)
    period_rows = every[(every["at"] >= lo) & (every["at"] < hi) & every["category"].isin(cats)]
    by_ward = queries.changes_by_ward(period_rows)
    opened = int(by_ward["opened"].sum() + by_ward["reopened"].sum()) if len(by_ward) else 0
    closed = int(by_ward["closed"].sum()) if len(by_ward) else 0
    st.subheader(f"{start:%d %b %Y} to {end:%d %b %Y}: {opened} opened or first recorded, {closed} closed, "
                 f"{int(by_ward['moved'].sum()) if len(by_ward) else 0} moved")
    st.caption("A site is recorded as opened when a file first lists it: load a source's older files first, "
               "each with `assetmap ingest … --effective DATE`, for its history before assetmap.")
    if not partner:
        st.caption("Public view: refugee support venues and women-only spaces are left out of the history.")
    if period_rows.empty:
        st.write("No openings, closures or moves in this period.")
    else:
        left, right = st.columns([3, 2])
        with left:
            st_folium(maps.changes_map(period_rows), key="ch-map", height=420, use_container_width=True,
                      returned_objects=[])
            st.caption("Red: closed (where it was) · green: opened · blue: moved (where it went)")
        with right:
            common.table(by_ward.assign(category=by_ward["category"].map(vocab.CATEGORY_LABELS)),
                         key="ch-wards")
        listed = period_rows[["at", "change", "category", "name", "ward_name", "ward_code", "moved_m"]].assign(
            at=lambda d: d["at"].dt.date, category=lambda d: d["category"].map(vocab.CATEGORY_LABELS))
        common.table(listed, key="ch-list")
        st.download_button("Download the changes (CSV)", to_csv_bytes(worded(listed)),
                           file_name=f"assetmap-changes-{start}-{end}.csv", mime="text/csv", key="ch-csv",
                           on_click="ignore")
    ward_list = queries.wards(con)
    subscribe.form({r.code: f"{r.name} ({r.code})" for r in ward_list.itertuples(index=False)},
                   [common.view()["ward"]] if common.view().get("ward") else [], key="ch")
    moments = queries.as_at_moments(con)
    st.subheader("The gap then and now")
    if not moments:
        st.write("Compute the gaps as at a past date to compare: `assetmap recompute --as-at 2019-04-01`.")
        return
    c1, c2 = st.columns(2)
    with c1:
        moment = st.selectbox("As at", moments, format_func=lambda m: f"{pd.Timestamp(m):%d %b %Y}", key="ch-asat")
    with c2:
        category = common.choice("Category", vocab.CATEGORY_LABELS, None, key="ch-gap-category")
    table = queries.gaps_then_and_now(con, moment, category)
    common.table(table, key="ch-then-now",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("gap_then", "gap_now", "change", "supply_then", "supply_now")})


main()
