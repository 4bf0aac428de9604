"""The ward profile, drawn by the Ward profile page and under the map when a ward is clicked."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import duckdb
import pandas as pd
import streamlit as st

from assetmap import queries, vocab
from assetmap.settings import settings
from dashboards import brief, common
from dashboards.common import md, partner_mode, snapshot_at


def render(con: duckdb.DuckDBPyConnection, code: str, snapshot_path: Path, key: str = "profile") -> None:
    from dashboards.views_shared import read

    snap = str(snapshot_path)
    w = read(snap, "ward", code)
    if w is None:
        st.warning(f"No ward {md(code)} in this snapshot.")
        return
    name, la_name = w["name"], w["la_name"]
    st.header(f"Ward profile: {md(name)} ({md(code)})")
    st.caption(f"Local authority: {md(la_name)}")

    gaps = read(snap, "ward_gaps", code)
    if len(gaps):
        st.subheader("Provision gaps: why this ward is flagged")
        cols = st.columns(len(gaps))
        for col, g in zip(cols, gaps.to_dict("records"), strict=True):
            col.metric(g["label"], f"{g['gap']:+.2f}", help=f"rank {g['rank']} of {g['of_units']} wards "
                       "(1 = largest gap); gap = need - supply, each between 0 and 1")
            flags = ", ".join(f.replace("_", " ") for f in (g["flags"] or []))
            col.caption(flags or "no flags")
        cat = st.selectbox("Components of the gap for", gaps["category"].tolist(),
                           format_func=lambda c: vocab.CATEGORY_LABELS.get(c, c), key=f"{key}-cat")
        comps = pd.DataFrame(gaps.loc[gaps["category"] == cat, "components"].iloc[0])
        comps["component"] = comps["component"].str.replace("_", " ")
        st.altair_chart(alt.Chart(comps).mark_bar().encode(
            x=alt.X("contribution:Q", title="contribution to the gap (need +, supply -)"),
            y=alt.Y("component:N", sort="-x", title=None),
            color=alt.Color("kind:N", scale=alt.Scale(domain=["need", "supply"], range=["#d7301f", "#2b8cbe"])),
            tooltip=common.tooltips("component", "kind", alt.Tooltip("raw:Q", format=".3f"),
                                    alt.Tooltip("scaled:Q", format=".2f"), "weight",
                                    alt.Tooltip("contribution:Q", format="+.3f"))), width="stretch")
        strengths = gaps.loc[gaps["category"] == cat, "strengths"].iloc[0] or {}
        if strengths:
            st.caption("Strengths: " + md(", ".join(f"{k.replace('_', ' ')} {v:.2f}" if isinstance(v, float)
                                                    else f"{k.replace('_', ' ')} {v}" for k, v in strengths.items())))

    left, right = st.columns(2)
    with left:
        st.subheader("Who lives here")
        mix = read(snap, "population_mix", code)
        if len(mix):
            top = mix.head(10).melt(id_vars=["group"], value_vars=["share", "la_share"], var_name="where",
                                    value_name="proportion")
            top["where"] = top["where"].map({"share": "ward", "la_share": "local authority"})
            st.altair_chart(alt.Chart(top).mark_bar().encode(
                x=alt.X("proportion:Q", axis=alt.Axis(format="%")), y=alt.Y("group:N", sort=None, title=None),
                yOffset="where:N", color="where:N",
                tooltip=common.tooltips("group", "where", alt.Tooltip("proportion:Q", format=".1%"))),
                width="stretch")
        st.subheader("The ward beside its local authority")
        common.table(read(snap, "ward_vs_la", code), width="stretch")
    with right:
        st.subheader("Segregation indices")
        idx = read(snap, "ward_indices", code)
        groups = ["all"] + [g for g in idx["focal_group"].unique() if g != "all"]
        group = st.selectbox("Group", groups, format_func=vocab.group_label, key=f"{key}-group")
        shown = idx[idx["focal_group"] == group][["index", "value", "ci_low", "ci_high", "reliable", "n_oas"]]
        common.table(shown, width="stretch")
        if len(shown) and not bool(shown["reliable"].all()):
            st.caption("Unreliable: fewer than 5 output areas or 50 residents of the group; read with care.")
        st.subheader("Accessibility")
        access = read(snap, "ward_access", code)
        for line in queries.access_sentences(access):
            st.markdown("- " + md(line))
        common.table(access, width="stretch")
        mode = read(snap, "access_mode")
        if mode in queries.ACCESS_MODE_NOTE:
            st.caption(md(queries.ACCESS_MODE_NOTE[mode].format(speed=settings.walk_speed_kmh)))
        bus = read(snap, "ward_ptal", code)
        if bus is not None:
            st.subheader("Bus and rail access (PTAL)")
            st.markdown("- " + md(queries.ptal_sentence(bus) or ""))
            if len(bus["routes"]):
                common.table(bus["routes"], width="stretch", key=f"{key}-ptal",
                             column_config={"share_of_oas": st.column_config.NumberColumn(format="percent"),
                                            "median_part": st.column_config.NumberColumn(format="%.2f")})
            st.caption("Transport for London's PTAL: walks to stops within 640 m (stations 960 m) at 80 m a "
                       "minute, and each route's departures 08:15-09:15; bands 0 (none) to 6b (excellent). "
                       "share_of_oas: the ward's output areas within a walk of the route; median_part: what the "
                       "route adds to their index.")
        langs = read(snap, "ward_languages", code)
        if len(langs):
            st.subheader("Languages and providers in them")
            common.table(langs, width="stretch", key=f"{key}-languages",
                         column_config={"share": st.column_config.NumberColumn(format="percent"),
                                        "language_gap": st.column_config.NumberColumn(format="%.2f"),
                                        "speakers": st.column_config.NumberColumn(format="%d"),
                                        "covered": st.column_config.NumberColumn(format="%d")})
            st.caption("Residents whose main language is not English or Welsh (census), and how many live within "
                       "1,600 m of an ESOL or refugee-support provider working in their language; language gap = "
                       "the share who do not.")

    st.subheader("Assets within 1,600 m")
    partner = partner_mode()
    listed, counted = read(snap, "assets_in_reach", code, settings.profile_reach_m, partner)
    # a partner sees the sensitive sites listed, and marked as such; the public, their count only
    common.table(listed.drop(columns=["asset_id"] if partner else ["asset_id", "sensitive"]),
                 width="stretch", key=f"{key}-assets",
                 column_config={"website": st.column_config.LinkColumn("Website"),
                                "sensitive": st.column_config.CheckboxColumn("Sensitive (partners only)")})
    if len(counted):
        among = ", ".join(f"{vocab.CATEGORY_LABELS.get(c, c)} {n}"
                          for c, n in zip(counted["category"], counted["sensitive_assets"], strict=True))
        st.caption(("Sensitive services among them, listed above for partners (the public sees only how many): "
                    if partner else "Sensitive services within reach (counted, not located): ") + md(among))
    st.download_button("Download the ward brief (HTML)",
                       lambda: brief.ward_brief(snapshot_at(snap), code, partner, Path(snap).stem).encode("utf-8"),
                       file_name=f"ward-brief-{code}.html", mime="text/html", key=f"{key}-brief", on_click="ignore")
