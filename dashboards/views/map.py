"""Map: a choropleth of one ward measure, asset layers, click a ward for its profile, exports."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from assetmap import queries, vocab
from assetmap.csvout import to_csv_bytes
from assetmap.settings import settings
from assetmap.vocab.categories import CATEGORIES
from assetmap.vocab.languages import language_label
from dashboards import common, geo, maps, profile, render
from dashboards import views_shared as cached
from dashboards.views_shared import features

PALETTE_OF = maps.PALETTE_OF


_WIDGETS = {"measure": "m-kind", "category": "m-category", "field": "m-field", "index": "m-index", "group": "m-group",
            "scheme": "m-scheme", "k": "m-k", "language": "m-language"}


def _state(v: dict[str, str]) -> dict[str, str]:
    """The view as the sidebar's widgets last left it (the URL's, before they exist)."""
    out = dict(v)
    for param, key in _WIDGETS.items():
        if key in st.session_state:
            out[param] = str(st.session_state[key])
    if out.get("measure") == "share" and "m-share" in st.session_state:
        out["group"] = str(st.session_state["m-share"])
    if "m-layers" in st.session_state:
        out["layers"] = ",".join(st.session_state["m-layers"]) or "none"
    if "m-religions" in st.session_state:
        out["religions"] = ",".join(st.session_state["m-religions"])
    return out


def measure_controls(snap: str, m: queries.Measure) -> queries.Measure:
    """The sidebar's measure pickers, starting from (and writing back to) the view."""
    kind = common.choice("Measure", queries.KINDS, m.kind, key="m-kind")
    category, field, index, group = m.category, m.field, m.index, m.group
    if kind in ("gap", "need", "supply", "access"):
        category = common.choice("Category", vocab.CATEGORY_LABELS, m.category, key="m-category")
    if kind == "access":
        field = common.choice("Accessibility measure", queries.ACCESS_FIELDS, m.field, key="m-field")
    groups = list(cached.ethnic_groups(snap))
    if kind == "index":
        index = common.choice("Index", vocab.INDEX_LABELS, m.index, key="m-index")
        if index not in vocab.MULTIGROUP_INDICES:
            group = common.choice("Focal group", {g: vocab.group_label(g) for g in groups},
                                  m.group if m.group != "all" else "white_british", key="m-group")
        else:
            group = "all"
    if kind == "share":
        group = common.choice("Group", {g: vocab.group_label(g) for g in groups}, m.group, key="m-share")
    language = m.language
    if kind == "language":
        spoken = cached.languages_spoken(snap)
        if not spoken:
            st.sidebar.info("No main-language table loaded (census TS024 or QS204EW).")
        else:
            language = common.choice("Main language", {lang: language_label(lang) for lang in spoken},
                                     m.language, key="m-language")
    return queries.Measure(kind, category, field, index, group, language)


def _walking_area(snap: str, layers: tuple[str, ...], religions: tuple[str, ...] | None, partner: bool) -> None:
    """The streets within 10 and 20 minutes' walk of a provider the user picks."""
    with st.expander("Walking area around a provider"):
        shown = cached.assets(snap, layers, religions, partner)
        if shown.empty:
            st.caption("No provider of the chosen layers to walk from.")
            return
        names = dict(zip(shown["asset_id"], shown["name"].fillna("(no name)") + " · " +
                         shown["category"].map(lambda c: vocab.CATEGORY_LABELS.get(c, c)), strict=True))
        picked = st.selectbox("Provider", list(names), format_func=lambda a: names[a], index=None,
                              placeholder="Choose a provider", key="walk-from")
        if picked is None:
            return
        area = cached.read(snap, "walking_area", picked, partner)
        if area is None:
            st.caption("No walking network is loaded for this place.")
            return
        st_folium(maps.walking_map(area), key="walk-map", height=420, use_container_width=True, returned_objects=[])
        st.caption(common.md(
            f"Streets within 10 minutes' walk (dark) and 20 minutes' walk (light) of {area['name']} at "
            f"{settings.walk_speed_kmh} km/h; {area['start_m']:.0f} m from it to the nearest street."))


def main() -> None:
    common.header("Provision-gap map")
    con, path = common.snapshot()
    common.require(con, "display_areas", "This snapshot has no ward boundaries to draw.")
    # The map is drawn before the sidebar's controls, from the values they last had, so that the
    # browser starts on the map (the slowest part to appear) first; the controls follow.
    v = _state(common.view())
    m = queries.Measure.from_params(v)
    scheme = str(v["scheme"]) if v.get("scheme") in render.SCHEMES else "quantiles"
    k = int(v["k"]) if v.get("k", "").isdigit() and 3 <= int(v["k"]) <= 7 else 5
    layers = [c for c in v.get("layers", "esol_provider,community_centre").split(",") if c in CATEGORIES]
    snap = str(path)
    rel_all = cached.religions(snap)
    religions = _religions(v.get("religions"), rel_all)

    selected = v.get("ward")
    center = (float(v["lat"]), float(v["lon"])) if _is_float(v.get("lat")) and _is_float(v.get("lon")) else None
    zoom = int(v["zoom"]) if v.get("zoom", "").isdigit() else None
    # the map is built at the view the session opened with, so panning does not rebuild it; later
    # views reach the map through the component's center/zoom, which move it without a redraw
    first_center, first_zoom = st.session_state.setdefault("_map_first_view", (center, zoom))
    partner = common.partner_mode()
    # markers beyond the cap depend on the view this session's map last reported; else nothing does
    # (a public map's markers are files the browser clusters: all of them, whatever the view)
    many = bool(layers) and (partner or not geo.is_public(snap)) and \
        _n_assets(snap, tuple(layers), _tuple(religions), partner) > settings.map_max_markers
    drawn = _drawn(snap, m, scheme, k, tuple(layers), _tuple(religions), partner, selected, first_center,
                   first_zoom, _bounds_key() if many else None, settings.map_max_markers)
    st.subheader(m.label)
    out = maps.show(drawn["args"], key="ward-map", height=560,
                    returned_objects=["last_active_drawing", "center", "zoom", "bounds"], center=center, zoom=zoom,
                    view=drawn["view"])
    if not _map_reported(out):
        # The session's first map: nothing more on this run. The rest of the page (controls,
        # legend, exports, profile) comes with the rerun that the map's first report triggers
        # once it has drawn. Sent now, their widgets' scripts would be fetched from this server
        # while the map's are, and the map would paint about half a second later.
        st.caption("Loading the map's controls…")
        return

    with st.sidebar:
        st.subheader("What to map")
        m2 = measure_controls(snap, m)
        scheme2, k2 = scheme, k
        if m2.kind != "ptal":  # PTAL's classes are its published bands
            scheme2 = common.choice("Class breaks", render.SCHEMES, scheme, key="m-scheme")
            # a selectbox, not a slider: the slider's scripts (date and number formatting) would be
            # one more thing for the browser to fetch and run just as the map has drawn
            k2 = int(common.choice("Classes", [str(n) for n in range(3, 8)], str(k), key="m-k"))
        st.subheader("Asset layers")
        layers2 = st.multiselect("Show", list(CATEGORIES), default=layers,
                                 format_func=lambda c: vocab.CATEGORY_LABELS.get(c, c), key="m-layers")
        religions2 = None
        if "place_of_worship" in layers2 and rel_all:
            religions2 = _religions(",".join(st.multiselect(
                "Places of worship: religions", rel_all, default=religions if religions is not None else rel_all,
                key="m-religions")), rel_all)
        if not common.partner_mode():
            st.caption("Public mode: refugee support venues and women-only spaces appear as counts per ward "
                       "(in the ward tooltip and profile), never as points.")
    keep = m2.params()
    common.set_view(**{p: keep.get(p) for p in ("measure", "category", "field", "index", "group")},
                    scheme=scheme2, k=k2, layers=",".join(layers2) or "none",
                    religions=",".join(religions2) if religions2 is not None else None)
    if (m2, scheme2, k2, layers2, religions2) != (m, scheme, k, layers, religions) and \
            not st.session_state.get("_map_settled"):
        # a view from the URL that the widgets normalised (e.g. an unknown group): draw it again once
        st.session_state["_map_settled"] = True
        st.rerun()
    _follow(out)

    scheme_name = "TfL's PTAL bands" if m.kind == "ptal" else render.SCHEMES[scheme]
    st.caption("Classes (" + scheme_name + "): " + "; ".join(t for _, t in drawn["legend"]))  # our words and numbers
    if drawn["hidden"]:
        st.caption(f"{drawn['hidden']:,} assets of the chosen layers are not drawn: zoom in to see them (at most "
                   f"{settings.map_max_markers:,} markers at once).")
    if drawn["missing"]:
        st.caption(f"{drawn['missing']} wards have no value for this measure.")
    mode = cached.read(str(path), "access_mode")
    if m.kind in ("access", "gap", "supply") and mode in queries.ACCESS_MODE_NOTE:
        st.caption(common.md(queries.ACCESS_MODE_NOTE[mode].format(speed=settings.walk_speed_kmh)))

    # a toggle, not an expander: an expander's content is sent with every run of the page, and a
    # region's table is tens of kilobytes down every session's websocket at every change of view
    if st.toggle("Table view of this map", key="m-table",
                 help="The same measure and classes as the map, ward by ward, as a table"):
        # a plain HTML table (st.table), which a screen reader reads; st.dataframe draws on a canvas
        table = drawn["table"]
        st.caption("The same measure and classes as the map, ward by ward, for a screen reader or a keyboard"
                   + (f" (the first {_TABLE_ROWS:,} of {len(table):,} wards; the CSV holds them all)."
                      if len(table) > _TABLE_ROWS else "."))
        st.table(table.head(_TABLE_ROWS).set_index("Ward"))
        # made when clicked (not on every run of the map page)
        st.download_button("The table as CSV", lambda: to_csv_bytes(table), "assetmap-map-table.csv",
                           "text/csv", key="x-table", on_click="ignore")

    with st.expander("Export this layer"):
        st.caption("Wards with the measure shown, in EPSG:4326; assets without the sensitive ones in public mode.")
        slug = "-".join(m.params().values())
        snap, partner = str(path), common.partner_mode()

        # made when clicked, on a cursor of its own (runs on another thread)
        def layer(fmt: str) -> Callable[[], bytes]:
            return lambda: render.to_bytes(queries.measure_frame(common.snapshot_at(snap), m), fmt, "wards")

        c1, c2, c3, c4 = st.columns(4)
        c1.download_button("GeoJSON", layer("geojson"), f"assetmap-{slug}.geojson", "application/geo+json",
                           key="x-geojson", on_click="ignore")
        c2.download_button("GeoPackage", layer("gpkg"), f"assetmap-{slug}.gpkg", "application/geopackage+sqlite3",
                           key="x-gpkg", on_click="ignore")
        c3.download_button("CSV", layer("csv"), f"assetmap-{slug}.csv", "text/csv", key="x-csv", on_click="ignore")
        c4.download_button("Assets (GeoJSON)", lambda: render.to_bytes(
            queries.assets_frame(common.snapshot_at(snap), partner), "geojson", "assets"),
            "assetmap-assets.geojson", "application/geo+json", key="x-assets", on_click="ignore")

    if mode == "network" and layers:
        _walking_area(str(path), tuple(layers), _tuple(religions), common.partner_mode())

    ward = common.view().get("ward")
    if ward:
        st.divider()
        profile.render(con, ward, path, key="map-profile")
    else:
        st.info("Click a ward on the map to see its profile.")


def _religions(given: str | None, known: list[str]) -> list[str] | None:
    """The religions a view names, None for all of them: "all", whether the URL says nothing or the
    control lists every one, is one map (its script, and so the component's key, the same), so the
    control's first report does not replace the drawn map with an identical new one."""
    if given is None or not known:
        return None
    picked = [r for r in given.split(",") if r in known]
    return None if set(picked) == set(known) else picked


def _tuple(items: list[str] | None) -> tuple[str, ...] | None:
    return tuple(items) if items is not None else None


@st.cache_resource(max_entries=16, show_spinner=False)
def _n_assets(snap: str, layers: tuple[str, ...], religions: tuple[str, ...] | None, partner: bool) -> int:
    return len(cached.assets(snap, layers, religions, partner))


def _bounds_key() -> tuple[float, ...] | None:
    b = st.session_state.get("_map_bounds")
    if not b:
        return None
    sw, ne = b["_southWest"], b["_northEast"]
    return tuple(round(float(x), 3) for x in (sw["lat"], sw["lng"], ne["lat"], ne["lng"]))


@st.cache_resource(max_entries=256, show_spinner=False)
def _drawn(snap: str, m: queries.Measure, scheme: str, k: int, layers: tuple[str, ...],
           religions: tuple[str, ...] | None, partner: bool, selected: str | None,
           center: tuple[float, float] | None, zoom: int | None,
           bounds: tuple[float, ...] | None, cap: int) -> dict:
    """The map of one view of one snapshot, rendered once for every session that shows it (a
    snapshot never changes; the result is never modified).

    A public snapshot's map is one map for every view (:func:`_remote_map`: wards from files the
    browser keeps, :mod:`dashboards.geo`) and a small script per view (``view``) that the same
    map runs to show it; a partner's map carries its wards and values inline, and at most ``cap``
    markers (``settings.map_max_markers``, an argument so that the cache keys on it)."""
    all_wards = cached.wards(snap)
    # PTAL has its own published bands (0, 1a ... 6b): its classes are those, whatever the scheme
    view = maps.choropleth(all_wards["code"], cached.measure_values(snap, m), m.kind, scheme, k)
    out = {"legend": view.legend, "missing": int(view.values["value"].isna().sum()),
           "table": _table(all_wards, view.values, view.classes, view.legend, m)}
    if not partner and geo.is_public(snap):
        geo.prime(snap, queries.Measure.from_params(m.params()), scheme, k, view)  # what the browser asks for next
        # all markers, whatever the view; the wards at the detail their number calls for
        base = _remote_map(snap, maps.detail_for(len(all_wards)), layers, religions, center, zoom)
        script = maps.view_script(geo.values_url(snap, m, scheme, k), m.label, view.legend, selected, sensitive=True)
        return {**out, **base, "view": script}
    fc = features(snap, len(all_wards))
    asset_frame, hidden = _within_view(cached.assets(snap, layers, religions, partner) if layers else None, bounds,
                                       cap)
    sensitive = None if partner else cached.sensitive_counts(snap)
    fmap = maps.ward_map(fc, view.values, view.classes, view.bins, m.label, palette_name=PALETTE_OF[m.kind],
                         selected=selected, asset_frame=asset_frame, sensitive=sensitive, center=center, zoom=zoom,
                         legend=view.legend if m.kind == "ptal" else None)
    return {**out, "args": maps.component_args(fmap), "hidden": hidden, "view": None}


@st.cache_resource(max_entries=64, show_spinner=False)
def _remote_map(snap: str, detail: str, layers: tuple[str, ...], religions: tuple[str, ...] | None,
                center: tuple[float, float] | None, zoom: int | None) -> dict:
    """A public snapshot's map for every measure: the wards as a file the browser fetches once
    (:mod:`dashboards.geo`), the public markers of ``layers``; no view of its own."""
    all_wards = cached.wards(snap)
    fc = features(snap, len(all_wards))
    # every public marker of the layers, as a file per category the browser fetches and clusters
    sources = [{"url": geo.assets_url(snap, c), "keys": list(religions) if c == "place_of_worship" and
                religions is not None else None} for c in layers]
    empty = pd.DataFrame({"code": pd.Series([], dtype=object), "value": pd.Series([], dtype=float)})
    fmap = maps.ward_map(fc, empty, np.array([], dtype=int), [], "", center=center, zoom=zoom,
                         remote=geo.wards_url(snap, detail), sources=sources)
    return {"args": maps.component_args(fmap), "hidden": 0}


#: Rows of the map's table view shown in the page (a region's thousands of wards go to its CSV).
_TABLE_ROWS = 1000


def _table(wards: pd.DataFrame, values: pd.DataFrame, classes: object, legend: list[tuple[str, str]],
           m: queries.Measure) -> pd.DataFrame:
    """The map as a table: each ward, its value and its class in the legend's words (what a
    screen reader, or anyone who cannot tell the colours apart, reads instead of the map)."""
    texts = [t for _, t in legend[:-1]]
    cls = pd.Series(classes, dtype="int64")
    return pd.DataFrame({
        "Ward": wards["name"].to_numpy(object), "Ward code": wards["code"].to_numpy(object),
        "Local authority": wards["la_name"].to_numpy(object), m.label: values["value"].to_numpy(),
        "Class": [texts[c] if 0 <= c < len(texts) else "no data" for c in cls]})


def _map_reported(out: dict | None) -> bool:
    """Whether the map has reported back (its centre) in this session: then it has been drawn."""
    if (out or {}).get("center"):
        st.session_state["_map_reported"] = True
    return bool(st.session_state.get("_map_reported"))


def _within_view(frame: pd.DataFrame, bounds: tuple[float, ...] | None, cap: int) -> pd.DataFrame:
    """Cap the markers at ``cap``: all of them when few, else those in the map's last reported view
    (``bounds``: south, west, north, east)."""
    if frame is None or len(frame) <= cap:
        return frame, 0
    if bounds:
        s_, w, n, e = bounds
        inside = frame["lat"].between(s_, n) & frame["lon"].between(w, e)
        if inside.sum() <= cap:
            return frame[inside], int((~inside).sum())
    return frame.iloc[0:0], len(frame)


def _is_float(s: str | None) -> bool:
    try:
        float(s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    else:
        return True


def _follow(out: dict | None) -> None:
    """Take a click on a ward, and the map's centre and zoom, into the view (and so the URL)."""
    if not out:
        return
    drawing = out.get("last_active_drawing") or {}
    code = (drawing.get("properties") or {}).get("code")
    if code and code != st.session_state.get("_last_clicked_ward"):
        st.session_state["_last_clicked_ward"] = code
        common.set_view(ward=code)
        st.rerun()
    bounds = out.get("bounds")
    if bounds and bounds.get("_southWest") and bounds["_southWest"].get("lat") is not None:
        st.session_state["_map_bounds"] = bounds
    center, zoom = out.get("center"), out.get("zoom")
    if center and zoom:
        common.set_view(lat=f"{center['lat']:.5f}", lon=f"{center['lng']:.5f}", zoom=int(zoom))


main()
