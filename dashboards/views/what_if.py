"""What-if and siting: place a hypothetical ESOL class or centre and see each ward's gap change;
or ask for the k sites that would cover the most unmet need (MCLP) and see them drawn."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from assetmap import queries, vocab
from assetmap.db.store import Store
from assetmap.settings import settings
from assetmap.sites import site_from_lat_lon, suggest_sites, what_if
from dashboards import common, maps, render
from dashboards.views_shared import features


def main() -> None:
    common.header("What-if and siting")
    con, path = common.snapshot()
    v = common.view()
    common.require(con, "unit_gaps", common.NO_GAPS)
    store = Store.over(con, path)
    sites: list[dict] = st.session_state.setdefault("wi-sites", [])
    c1, c2, c3 = st.columns([2, 1, 1])
    category = common.choice("Kind of place", vocab.CATEGORY_LABELS, v.get("category"), key="wi-category")
    capacity = c2.number_input("Capacity (places)", min_value=1, value=15, step=1, key="wi-capacity")
    c1.caption("Click the map to choose a spot, or type its coordinates; then add it.")
    clicked = st.session_state.get("wi-clicked") or {}
    lat = c3.number_input("Latitude", value=float(clicked.get("lat", 0.0)), format="%.5f", key="wi-lat")
    lon = c3.number_input("Longitude", value=float(clicked.get("lng", 0.0)), format="%.5f", key="wi-lon")
    b1, b2 = st.columns(2)
    if b1.button("Add this site", key="wi-add", type="primary"):
        if lat == 0.0 and lon == 0.0:
            st.error("Choose a spot first: click the map or type a latitude and longitude.")
        else:
            sites.append({"lat": float(lat), "lon": float(lon), "category": category, "capacity": float(capacity)})
    if b2.button("Clear sites", key="wi-clear"):
        sites.clear()
        st.session_state.pop("wi-suggested", None)

    k = st.slider("Suggest the best k sites", 1, 10, 3, key="wi-k")
    if st.button(f"Suggest {k} sites", key="wi-suggest"):
        with st.spinner("Solving the maximal covering location problem..."):
            st.session_state["wi-suggested"] = suggest_sites(store, category, int(k))
    suggested = st.session_state.get("wi-suggested")

    result = pd.DataFrame()
    if sites:
        try:
            planned = [site_from_lat_lon(con, s["lat"], s["lon"], s["category"], s["capacity"]) for s in sites]
            result = what_if(store, add=planned)
        except ValueError as exc:
            st.error(str(exc))
    w = queries.wards(con)[["code", "name"]]
    values = w.copy()
    if len(result):
        delta = result[result["category"] == category].set_index("unit_code")["delta"]
        values["value"] = values["code"].map(delta).fillna(0.0)
        title = f"Change in gap if the sites open: {vocab.CATEGORY_LABELS[category]}"
    else:
        values = values.merge(queries.measure_values(con, queries.Measure("gap", category)), on="code", how="left")
        title = queries.Measure("gap", category).label
    classes, bins = render.classify(values["value"], "quantiles", 5)
    marks = [{"lat": s["lat"], "lon": s["lon"], "label": f"What-if {i + 1}: {vocab.CATEGORY_LABELS[s['category']]}",
              "kind": "what_if"} for i, s in enumerate(sites)]
    if suggested is not None and len(suggested):
        marks += [{"lat": r.lat, "lon": r.lon, "label": f"Suggested {r.order}: covers {r.covered_demand:,.0f} in need",
                   "kind": "suggested"} for r in suggested.itertuples(index=False)]
    fmap = maps.ward_map(features(str(path), len(w)), values[["code", "value"]], classes, bins, title,
                         palette_name="YlOrRd" if not len(result) else "Blues",
                         sites=pd.DataFrame(marks) if marks else None)
    out = st_folium(fmap, key="what-if-map", height=480, use_container_width=True, returned_objects=["last_clicked"])
    if out and out.get("last_clicked") and out["last_clicked"] != st.session_state.get("wi-clicked"):
        st.session_state["wi-clicked"] = out["last_clicked"]
        for key in ("wi-lat", "wi-lon"):
            st.session_state.pop(key, None)
        st.rerun()

    _tables(sites, result, w, suggested)


def _tables(sites: list[dict], result: pd.DataFrame, w: pd.DataFrame, suggested: pd.DataFrame | None) -> None:
    """The hypothetical sites, the wards whose gap they change, and the suggested sites."""
    if sites:
        st.subheader("Hypothetical sites")
        common.table(pd.DataFrame(sites), key="wi-sites-table")
        st.subheader("Wards whose gap would change")
        if result.empty:
            st.write("No ward's gap would change (the sites reach no one in need not already served).")
        else:
            shown = result.merge(w, left_on="unit_code", right_on="code", how="left")
            shown["category"] = shown["category"].map(vocab.CATEGORY_LABELS)
            better = int((shown["delta"] < 0).sum())
            st.metric("Wards whose gap narrows", better)
            common.table(shown[["unit_code", "name", "category", "gap_before", "gap_after", "delta", "rank_before",
                                "rank_after"]], key="wi-result")
    if suggested is not None:
        st.subheader(f"Suggested sites ({settings.site_radius_m:.0f} m service radius)")
        if len(suggested):
            st.caption(f"Together they bring {suggested.attrs.get('total', 0):,.0f} residents in need within reach.")
        common.table(suggested.drop(columns=["x", "y"], errors="ignore"), key="wi-suggested-table")


main()
