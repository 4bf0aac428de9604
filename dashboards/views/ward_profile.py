"""Ward profile: population mix, indices with their reliability, reach, the gap's components."""

from __future__ import annotations

import streamlit as st

from assetmap import queries
from dashboards import common, profile, subscribe


def main() -> None:
    common.header("Ward profile")
    con, path = common.snapshot()
    v = common.view()
    w = queries.wards(con)
    if w.empty:
        st.warning("This snapshot has no wards.")
        st.stop()
    labels = {r.code: f"{r.name} ({r.code}), {r.la_name}" for r in w.itertuples(index=False)}
    code = common.choice("Ward", labels, v.get("ward"), key="p-ward")
    common.set_view(ward=code)
    profile.render(con, code, path, key="page-profile")
    subscribe.form(labels, [code], key="p")


main()
