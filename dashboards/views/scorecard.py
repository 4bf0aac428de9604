"""Race equality scorecard: per local authority, each domain's indicators as disparity ratios.

For each of the seven domains of a local race disparity audit, the figures of each group set
against its reference group, with the group's residents from the census beside them and the
source and year on every figure; small groups (and intervals that span parity) flagged. A
printable brief of the whole scorecard.
"""

from __future__ import annotations

import altair as alt
import streamlit as st

from assetmap import queries
from assetmap.vocab.scorecards import DOMAINS
from dashboards import common, scorecard_brief


def main() -> None:
    common.header("Race equality scorecard")
    con, _ = common.snapshot()
    las = queries.scorecard_las(con)
    if las.empty:
        st.info("No scorecard figures loaded. Ingest a scorecard CSV (la_code, domain, indicator, group, value, "
                "reference_group, reference_value, year, source[, lower, upper]): `assetmap ingest scorecard.csv`.")
        st.stop()
    names = dict(zip(las["code"], las["name"], strict=True))
    code = common.choice("Local authority", names, common.view().get("la"), key="sc-la")
    common.set_view(la=code)
    frame = queries.scorecard(con, code)
    st.caption(f"{len(frame)} figures · disparity ratio = the group's value / the reference group's; 1 is parity · "
               "group residents from the latest census loaded")
    for domain, label in DOMAINS.items():
        rows = frame[frame["domain"] == domain]
        st.subheader(label)
        if rows.empty:
            st.write("No figures for this domain.")
            continue
        chart = rows.assign(label=rows["indicator"] + " · " + rows["group"] + " (" + rows["year"].astype(str) + ")")
        bars = alt.Chart(chart).mark_point(filled=True, size=80).encode(
            x=alt.X("ratio:Q", scale=alt.Scale(type="log"), title="disparity ratio (log scale)"),
            # each row's indicator and group in full (Vega cuts axis labels at 180 px unless told)
            y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=0)),
            color=alt.condition("datum.reliability == ''", alt.value("#2c7fb8"), alt.value("#bbbbbb")),
            tooltip=[alt.Tooltip("indicator:N", title="Indicator"), alt.Tooltip("group:N", title="Group"),
                     alt.Tooltip("value:Q", title="Value"), alt.Tooltip("reference_group:N", title="Reference group"),
                     alt.Tooltip("reference_value:Q", title="Reference group's value"),
                     alt.Tooltip("ratio:Q", title="Disparity ratio"), alt.Tooltip("year:N", title="Year"),
                     alt.Tooltip("source:N", title="Source"), alt.Tooltip("reliability:N", title="Reliability")])
        whiskers = alt.Chart(chart.dropna(subset=["ratio_low", "ratio_high"])).mark_rule().encode(
            x="ratio_low:Q", x2="ratio_high:Q", y=alt.Y("label:N", sort=None))
        parity = alt.Chart({"values": [{"x": 1}]}).mark_rule(strokeDash=[4, 4], color="#555").encode(x="x:Q")
        st.altair_chart(whiskers + bars + parity, width="stretch")
        # a plain table: every indicator and group in full, wrapped, and read by screen readers
        st.table(scorecard_brief.table(rows).set_index("Indicator"))
    st.download_button("Download the scorecard brief (HTML)",
                       scorecard_brief.render(code, names[code], frame).encode("utf-8"),
                       file_name=f"assetmap-scorecard-{code}.html", mime="text/html", key="sc-brief",
                       on_click="ignore")


main()
