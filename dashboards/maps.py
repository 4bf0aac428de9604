"""The dashboard's folium maps: a ward choropleth, asset layers, a legend; offline by construction.

Every script and style comes from the app (:mod:`dashboards.vendor`); no basemap tiles unless
``settings.tile_url`` is set. Leaflet sets tooltip and popup content given as a string as HTML,
so an asset named ``<img src=x onerror=...>`` would run: asset popups and tooltips are built
from text nodes in the browser, and every string that does reach HTML (ward tooltips, the
legend) is escaped here with :func:`html.escape`.

Markers are drawn through one clustered layer per category (and per religion for places of
worship) whose points travel as a compact data array, not one script per marker.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from assetmap.settings import settings
from assetmap.vocab import CATEGORY_LABELS
from dashboards import vendor

#: ColorBrewer palettes (Brewer 2003), 3 to 7 classes, light to dark
PALETTES = {
    "YlOrRd": ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
    "Blues": ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"],
    "Purples": ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486"],
    # nine, for PTAL's nine bands (ColorBrewer Greens)
    "Greens": ["#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"],
}
MISSING = "#d9d9d9"
#: The palette name for PTAL's bands: one colour per band, the same on every map.
PTAL_PALETTE = "PTAL"
#: Each kind of measure's palette (all sequential, light to dark: told apart in greyscale too)
PALETTE_OF = {"gap": "YlOrRd", "need": "YlOrRd", "supply": "Blues", "access": "Blues", "index": "Purples",
              "share": "Purples", "language": "YlOrRd", "ptal": PTAL_PALETTE}
CATEGORY_COLOURS = {
    "esol_provider": "#1b9e77", "community_centre": "#d95f02", "place_of_worship": "#7570b3",
    "refugee_support": "#e7298a", "what_if": "#000000", "suggested": "#e6ab02",
}

# Popups and tooltips are built from text nodes (``textContent``), never parsed as HTML: a name
# such as ``<img src=x onerror=...>`` shows as those characters and runs nothing.
_PIN_CALLBACK = """
function (row) {
    var icon = L.divIcon({className: 'assetmap-pin', iconSize: [12, 12],
        html: '<span style="display:block;width:12px;height:12px;border-radius:6px;border:1px solid #fff;background:'
              + row[2] + '"></span>'});
    var marker = L.marker(new L.LatLng(row[0], row[1]), {icon: icon, title: row[3]});
    marker.bindPopup(function () {
        var div = document.createElement('div');
        row[4].forEach(function (line, i) {
            var el = document.createElement(i === 0 ? 'b' : 'div');
            el.textContent = line;
            div.appendChild(el);
        });
        return div;
    }, {maxWidth: 320});
    var tip = document.createElement('span');
    tip.textContent = row[3];
    marker.bindTooltip(tip);
    return marker;
}
"""


def palette(k: int, name: str = "YlOrRd") -> list[str]:
    """``k`` colours of a sequential palette, spread over its range."""
    colours = PALETTES[name]
    if k <= 1:
        return [colours[len(colours) // 2]]
    idx = np.round(np.linspace(0, len(colours) - 1, k)).astype(int)
    return [colours[i] for i in idx]


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "no data"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    v = float(value)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.{digits}f}"


def legend_rows(bins: list[float], colours: list[str], lowest: float | None) -> list[tuple[str, str]]:
    """``(colour, range text)`` of each class, and the no-data swatch."""
    rows = []
    lo = lowest
    for b, c in zip(bins, colours, strict=False):
        rows.append((c, f"{fmt(lo)} to {fmt(b)}" if lo is not None else f"up to {fmt(b)}"))
        lo = b
    rows.append((MISSING, "no data"))
    return rows


def ptal_legend_rows(n: int, colours: list[str]) -> list[tuple[str, str]]:
    """``(colour, band and its index range)`` of the first ``n`` PTAL bands, and no data."""
    from assetmap.transit.ptal import BAND_TOPS, BANDS

    rows = []
    lo = 0.0
    for k, c in enumerate(colours[:n]):
        top = BAND_TOPS[k - 1] if 0 < k <= len(BAND_TOPS) else None
        text = "PTAL 0 (no service in reach)" if k == 0 else \
            f"PTAL {BANDS[k]} ({lo + 0.01:.2f} to {top:.2f})" if top is not None else f"PTAL {BANDS[k]} (over {lo:.2f})"
        rows.append((c, text))
        lo = top if top is not None else lo
    rows.append((MISSING, "no data"))
    return rows


class Legend(MacroElement):
    """A Leaflet control holding pre-escaped legend HTML."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: 'bottomright'});
            legend.onAdd = function () {
                var div = L.DomUtil.create('div', 'assetmap-legend');
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self._name = "Legend"
        self.html = legend_html(title, rows)


def legend_html(title: str, rows: list[tuple[str, str]]) -> str:
    """The legend's HTML: its title and each class's swatch and words, every string escaped."""
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:12px;margin-right:6px;'
        f'background:{html.escape(c)};border:1px solid #888"></span>{html.escape(t)}</div>' for c, t in rows)
    return (f'<div style="background:#fff;padding:6px 8px;border:1px solid #999;font:12px sans-serif">'
            f'<b>{html.escape(title)}</b>{items}</div>')


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value) != ""


def popup_lines(row: dict[str, Any]) -> list[str]:
    """An asset's popup as lines of plain text: name, kind, address, attributes, source and date."""
    attrs = json.loads(row["attrs"]) if isinstance(row.get("attrs"), str) and row["attrs"] else {}
    lines = [str(row["name"]), CATEGORY_LABELS.get(row["category"], row["category"])
             + (f" ({row['subtype']})" if row.get("subtype") else "")]
    lines += [str(row[k]) for k in ("address", "postcode") if _present(row.get(k))]
    for key, value in attrs.items():
        if value in (None, "", []):
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        lines.append(f"{key.replace('_', ' ')}: {text}")
    when = row.get("observed_at")
    when_text = "" if when is None or pd.isna(when) else f", observed {pd.Timestamp(when).date()}"
    licence = f" ({row['licence']})" if _present(row.get("licence")) else ""
    lines.append(f"Source: {row['source']}{licence}{when_text}")
    return lines


@dataclass(frozen=True)
class Choropleth:
    """One measure classed for the map: every ward's value and class (``-1``: no data), the
    classes' upper bounds, their colours and the legend's rows."""

    values: pd.DataFrame  # code, value: every ward, in the wards' order
    classes: np.ndarray
    bins: list[float]
    colours: list[str]
    legend: list[tuple[str, str]]


def choropleth(codes: pd.Series, values: pd.DataFrame, kind: str, scheme: str, k: int) -> Choropleth:
    """``values`` (``code, value``) of one ``kind`` of measure over the wards ``codes``, classed by
    ``scheme`` into ``k`` classes (PTAL by its published bands, whatever the scheme): what the
    map page draws and what the map's values file (:mod:`dashboards.geo`) holds, alike."""
    from dashboards import render

    values = pd.DataFrame({"code": codes.to_numpy(object)}).merge(values[["code", "value"]], on="code", how="left")
    if kind == "ptal":
        classes, bins = render.classify_ptal(values["value"])
        colours = PALETTES["Greens"][:max(len(bins), 1)]  # a band keeps its colour whichever bands a map shows
        legend = ptal_legend_rows(len(bins), PALETTES["Greens"])
    else:
        classes, bins = render.classify(values["value"], scheme, k)
        colours = palette(max(len(bins), 1), PALETTE_OF[kind])
        legend = legend_rows(bins, colours, float(values["value"].min()) if values["value"].notna().any() else None)
    return Choropleth(values, classes, bins, colours, legend)


def detail_for(n_wards: int) -> str:
    """The display geometry a map of ``n_wards`` wards is drawn at (simpler for a region's many)."""
    return "overview" if n_wards > settings.map_detail_max_wards else "detail"


def sensitive_text(sensitive: pd.DataFrame | None) -> dict[str, str]:
    """Each ward's sensitive services as counts in words (``Refugee support 2``), for its tooltip."""
    counts: dict[str, str] = {}
    if sensitive is not None and len(sensitive):
        for code, grp in sensitive.groupby("code"):
            counts[str(code)] = ", ".join(f"{CATEGORY_LABELS.get(c, c)} {n}"
                                          for c, n in zip(grp["category"], grp["n"], strict=True))
    return counts


#: The ward tooltip's labels, before the measure's own.
TOOLTIP = ("Ward", "Code")
SENSITIVE_LABEL = "Sensitive services (count only)"


def ward_map(fc: dict, values: pd.DataFrame, classes: np.ndarray, bins: list[float], title: str, *,
             palette_name: str = "YlOrRd", selected: str | None = None, asset_frame: pd.DataFrame | None = None,
             sensitive: pd.DataFrame | None = None, center: tuple[float, float] | None = None,
             zoom: int | None = None, sites: pd.DataFrame | None = None,
             legend: list[tuple[str, str]] | None = None,
             remote: str | None = None, sources: list[dict[str, Any]] | None = None) -> folium.Map:
    """The choropleth of one ward measure, with asset layers and extra site markers (``legend``:
    the legend's rows, when the classes have names of their own, as PTAL's bands do).

    With ``remote`` (the URL of the snapshot's ward geometry, :mod:`dashboards.geo`), the map
    carries no ward, value or legend: the browser fetches the geometry, cacheably, and each view
    (:func:`view_script`: its values' URL, legend and selected ward) is applied to the same map.
    ``sources`` are marker layers the same way: ``{"url": ..., "keys": [...] or None}``, a file of
    :func:`asset_groups` per category and the groups of it to show (None: all).

    Parameters
    ----------
    fc
        The wards' display geometry (:func:`assetmap.queries.feature_collection`).
    values
        ``code, value`` per ward, aligned with ``classes``.
    classes, bins
        Class of each value (``-1``: no data) and the class upper bounds (:func:`dashboards.render.classify`).
    title
        The measure's label, for the legend and tooltips.
    selected
        A ward code to outline.
    asset_frame
        Assets to draw (already filtered for public mode).
    sensitive
        ``code, category, n``: sensitive assets per ward, shown as counts in the tooltip.
    center, zoom
        The view; fitted to the wards when not given.
    sites
        ``lat, lon, label, kind`` of hypothetical or suggested sites.
    """
    colours = palette(max(len(bins), 1), palette_name) if palette_name != PTAL_PALETTE else \
        PALETTES["Greens"][:max(len(bins), 1)]  # a band keeps its colour whichever bands a map shows
    kwargs: dict[str, Any] = {"control_scale": True}
    if center is not None:
        kwargs.update(location=list(center), zoom_start=zoom or 12)
    m = vendor.offline_map(**kwargs)
    if settings.tile_url:
        folium.TileLayer(tiles=settings.tile_url, attr=settings.tile_attribution or "tiles", name="Basemap").add_to(m)
    wards: folium.GeoJson | RemoteWards
    if remote is not None:
        # a region's or a nation's thousands of wards: drawn on a canvas, not as an SVG path each
        wards = RemoteWards(remote, canvas=detail_for(len(fc["features"])) == "overview")
        m.add_child(wards)
    else:
        fill = {code: (colours[c] if c >= 0 else MISSING) for code, c in zip(values["code"], classes, strict=True)}
        text = {code: fmt(v) for code, v in zip(values["code"], values["value"], strict=True)}
        counts = sensitive_text(sensitive)
        features = []
        for f in fc["features"]:
            code = f["properties"]["code"]
            props = {"code": code, "name": html.escape(str(f["properties"]["name"])),
                     "value": text.get(code, "no data"), "fill": fill.get(code, MISSING),
                     "sensitive": html.escape(counts.get(code, "none"))}
            features.append({"type": "Feature", "id": code, "properties": props, "geometry": f["geometry"]})

        def style(feature: dict) -> dict:
            is_sel = feature["properties"]["code"] == selected
            return {"fillColor": feature["properties"]["fill"], "fillOpacity": 0.75,
                    "color": "#111" if is_sel else "#555", "weight": 3.5 if is_sel else 0.6}

        wards = folium.GeoJson(
            {"type": "FeatureCollection", "features": features}, name="Wards: " + title, style_function=style,
            control=False, highlight_function=lambda f: {"weight": 2.5, "color": "#000"},
            tooltip=folium.GeoJsonTooltip(fields=["name", "code", "value", "sensitive"],
                                          aliases=[*TOOLTIP, html.escape(title), SENSITIVE_LABEL], sticky=False),
        )
        wards.add_to(m)
    if center is None and fc["features"]:
        b = _bounds(fc["features"])
        m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])

    groups = [[label, rows] for label, _, rows in asset_groups(asset_frame)]
    if sites is not None and len(sites):
        for r in sites.itertuples(index=False):
            colour = CATEGORY_COLOURS.get(r.kind, "#000")
            folium.Marker([float(r.lat), float(r.lon)], tooltip=html.escape(str(r.label)),
                          icon=folium.DivIcon(html=f'<div class="assetmap-site" style="width:18px;height:18px;'
                                              f'border-radius:9px;border:3px solid #fff;background:{colour}"></div>',
                                              icon_size=(18, 18), icon_anchor=(9, 9))).add_to(m)
    if remote is None:
        m.add_child(Legend(title, legend if legend is not None else legend_rows(
            bins, colours, float(np.nanmin(values["value"])) if values["value"].notna().any() else None)))
    m.add_child(AssetLayers(wards, html.escape("Wards" if remote is not None else "Wards: " + title), groups,
                            sources or []))
    return m


def asset_groups(frame: pd.DataFrame | None) -> list[list[Any]]:
    """Markers by layer: ``[label (HTML-escaped: a layer control's labels are HTML), key, rows]``
    per category (and per religion for places of worship, ``key`` the religion or
    ``unspecified``), each row ``[lat, lon, colour, name, popup lines]``."""
    groups: list[list[Any]] = []
    if frame is None or not len(frame):
        return groups
    for (cat, sub), grp in frame.groupby(["category", "subtype"], sort=True):
        label = CATEGORY_LABELS.get(cat, cat) + (f": {sub}" if cat == "place_of_worship" and sub else "")
        colour = CATEGORY_COLOURS.get(cat, "#333")
        rows = [[float(r["lat"]), float(r["lon"]), colour, str(r["name"]), popup_lines(r)]
                for r in grp.to_dict("records")]
        groups.append([html.escape(label), sub or "unspecified", rows])
    return groups


class RemoteWards(MacroElement):
    """The ward layer drawn from files the browser fetches and keeps (:mod:`dashboards.geo`): the
    snapshot's geometry once, and each view's classes, colours and values.

    The map's script holds no view: ``window.assetmapView(view)`` (:func:`view_script`, run by
    the map component each time the view changes) fetches the view's values and restyles the
    wards, and replaces the legend, without building the map again. The (empty) layer is on the
    map when the map's script ends, so the component hears a click on any ward drawn into it
    later, as on an inline layer. Tooltips are built from text nodes, never parsed as HTML. Until
    the files have come, the map says so; if one cannot be had, it says that.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var map = {{ this._parent.get_name() }};
            var view = {selected: null, labels: [], colours: [], missing: {{ this.missing|tojson }}, wards: {}};
            var loaded = {};
            var drawn = false;
            var legend = null;
            function fillOf(code) {
                var v = view.wards[code];
                return v && v[0] >= 0 ? view.colours[v[0]] : view.missing;
            }
            function style(f) {
                var sel = f.properties.code === view.selected;
                return {fillColor: fillOf(f.properties.code), fillOpacity: 0.75, color: sel ? '#111' : '#555',
                        weight: sel ? 3.5 : 0.6};
            }
            function tip(f) {
                var v = view.wards[f.properties.code];
                var rows = [f.properties.name, f.properties.code, v ? v[1] : 'no data'];
                if (view.labels.length > 3) { rows.push(f.properties.sensitive || 'none'); }
                var table = document.createElement('table');
                rows.forEach(function (text, i) {
                    var tr = document.createElement('tr');
                    var th = document.createElement('th');
                    th.textContent = view.labels[i];
                    var td = document.createElement('td');
                    td.textContent = text;
                    tr.appendChild(th);
                    tr.appendChild(td);
                    table.appendChild(tr);
                });
                return table;
            }
            // one tooltip and one pair of hover handlers on the layer, for every ward in it (a
            // nation's 7,602 wards would otherwise bind 22,806 of them); on a canvas when many
            var options = {style: style};
            {% if this.canvas %}options.renderer = L.canvas({padding: 0.2});{% endif %}
            var layer = L.geoJson(null, options).addTo(map);
            layer.bindTooltip(function (l) { return tip(l.feature); }, {sticky: false});
            layer.on('mouseover', function (e) { e.layer.setStyle({weight: 2.5, color: '#000'}); });
            layer.on('mouseout', function (e) { layer.resetStyle(e.layer); });
            var note = L.control({position: 'topright'});
            note.onAdd = function () {
                var div = L.DomUtil.create('div', 'assetmap-map-note');
                div.style.cssText = 'background:#fff;padding:4px 8px;border:1px solid #999;font:12px sans-serif';
                div.textContent = 'Loading the wards…';
                return div;
            };
            note.addTo(map);
            function get(url) {
                if (!loaded[url]) {
                    loaded[url] = fetch(url, {credentials: 'same-origin'}).then(function (r) {
                        if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); }
                        return r.json();
                    });
                }
                return loaded[url];
            }
            function failed(err) {
                if (!note._map) { note.addTo(map); }
                note.getContainer().textContent = 'The wards could not be loaded (' + err.message +
                    '): reload the page.';
            }
            var geometry = get({{ this.geometry_url|tojson }});
            var latest = null;
            window.assetmapView = function (next) {
                latest = next.values_url;
                Promise.all([geometry, get(next.values_url)]).then(function (got) {
                    if (latest !== next.values_url) { return; }  // a later view came first
                    view = {selected: next.selected, labels: next.labels, colours: got[1].colours,
                            missing: got[1].missing, wards: got[1].wards};
                    if (!drawn) { layer.addData(got[0]); drawn = true; } else { layer.setStyle(style); }
                    if (legend) { map.removeControl(legend); }
                    legend = L.control({position: 'bottomright'});
                    legend.onAdd = function () {
                        var div = L.DomUtil.create('div', 'assetmap-legend');
                        div.innerHTML = next.legend;  // escaped on the server (legend_html)
                        return div;
                    };
                    legend.addTo(map);
                    if (note._map) { map.removeControl(note); }
                    var box = map.getContainer();
                    box.setAttribute('data-assetmap-wards', String(layer.getLayers().length));
                    box.setAttribute('data-assetmap-view', next.values_url);
                }).catch(failed);
            };
            return layer;
        })();
        {% endmacro %}
    """)

    def __init__(self, geometry_url: str, canvas: bool = False) -> None:
        super().__init__()
        self._name = "RemoteWards"
        self.geometry_url, self.missing, self.canvas = geometry_url, MISSING, canvas


def view_script(values_url: str, title: str, legend: list[tuple[str, str]], selected: str | None,
                sensitive: bool) -> str:
    """The script that shows one view on a map with :class:`RemoteWards` (run by the map
    component whenever it changes): the values' URL, the legend's HTML, the selected ward."""
    view = {"values_url": values_url, "legend": legend_html(title, legend), "selected": selected,
            "labels": [*TOOLTIP, title, *([SENSITIVE_LABEL] if sensitive else [])]}
    return f"window.assetmapView({json.dumps(view)});"


class AssetLayers(MacroElement):
    """Clustered asset layers (one per category, or religion) and the layer control.

    The clustering plugin is loaded by this script once the map is up, not before it as folium
    would (the map waits for every script it declares): the ward polygons paint first and the
    markers follow. Rows travel as data: ``[lat, lon, colour, name, popup lines]``, in the map
    (``groups``) or in files the browser fetches and keeps (``sources``, :mod:`dashboards.geo`).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var groups = {{ this.groups|tojson }};
            var base = {{ this.base|tojson }};
            var callback = {{ this.callback }};
            var sources = {{ this.sources|tojson }};
            var control = L.control.layers(null, {}, {collapsed: true}).addTo(map);
            control.addOverlay({{ this.wards.get_name() }}, {{ this.wards_label|tojson }});
            if (!groups.length && !sources.length) { return; }
            function layer(label, rows) {
                var cluster = L.markerClusterGroup({showCoverageOnHover: false, chunkedLoading: true});
                cluster.addLayers(rows.map(callback));
                cluster.addTo(map);
                control.addOverlay(cluster, label);  // escaped on the server (asset_groups)
            }
            function build() {
                groups.forEach(function (g) { layer(g[0], g[1]); });
                sources.forEach(function (s) {
                    fetch(s.url, {credentials: 'same-origin'}).then(function (r) {
                        if (!r.ok) { throw new Error(s.url + ': HTTP ' + r.status); }
                        return r.json();
                    }).then(function (doc) {
                        doc.groups.forEach(function (g) {
                            if (s.keys === null || s.keys.indexOf(g[1]) >= 0) { layer(g[0], g[2]); }
                        });
                    }).catch(function (err) { console.error('assetmap: markers not loaded', err); });
                });
            }
            if (L.markerClusterGroup) { build(); return; }
            ['MarkerCluster.css', 'MarkerCluster.Default.css'].forEach(function (f) {
                var link = document.createElement('link');
                link.rel = 'stylesheet';
                link.href = base + '/' + f;
                document.head.appendChild(link);
            });
            var js = document.createElement('script');
            js.src = base + '/leaflet.markercluster.js';
            js.onload = build;
            document.head.appendChild(js);
        })();
        {% endmacro %}
    """)

    def __init__(self, wards: folium.GeoJson | RemoteWards, wards_label: str, groups: list[list[Any]],
                 sources: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self._name = "AssetLayers"
        self.wards, self.wards_label, self.groups, self.sources = wards, wards_label, groups, sources or []
        self.base = vendor.url("leaflet.markercluster", "dist")
        self.callback = _PIN_CALLBACK


def _bounds(features: list[dict]) -> tuple[float, float, float, float]:
    xs, ys = [], []

    def walk(c: Any) -> None:
        if isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for sub in c:
                walk(sub)

    for f in features:
        walk(f["geometry"]["coordinates"])
    return min(xs), min(ys), max(xs), max(ys)


# -- the map component, rendered once per snapshot and view --------------------------------------
# streamlit-folium's st_folium renders the whole folium map (Jinja templates, several passes) on
# every script run of every session; a room of sixty paid that sixty times for the same map. The
# rendering is split here: :func:`component_args` does it once (the pages cache its result across
# sessions, keyed by snapshot and view), :func:`show` hands the cached arguments to the same
# component on each run. Both follow st_folium 0.27 (the pinned version) step by step.

def component_args(fig: folium.Map) -> dict[str, Any]:
    """What st_folium sends the browser for ``fig``: rendered once, reusable by any session."""
    import branca
    from streamlit_folium import _get_header, _get_html, _get_map_string, get_full_id

    fig.get_root().render()
    fig.render()
    html_ = _get_html(fig)
    header = _get_header(fig)
    script = _get_map_string(fig)
    try:
        bounds = fig.get_bounds()
    except AttributeError:
        bounds = [[None, None], [None, None]]

    def walk(el):
        if isinstance(el, branca.colormap.ColorMap | folium.elements.JSCSSMixin):
            yield el
        for child in getattr(el, "_children", {}).values():
            yield from walk(child)
    css: list[str] = []
    js: list[str] = []
    for el in walk(fig):
        css += [href for _, href in getattr(el, "default_css", [])]
        js += [src for _, src in getattr(el, "default_js", [])]
    return {"script": script, "header": header, "html": html_, "id": get_full_id(fig),
            "bounds": {"_southWest": {"lat": bounds[0][0], "lng": bounds[0][1]},
                       "_northEast": {"lat": bounds[1][0], "lng": bounds[1][1]}},
            "zoom": fig.options.get("zoom"), "css_links": list(dict.fromkeys(css)),
            "js_links": list(dict.fromkeys(js))}


def show(args: dict[str, Any], key: str, height: int, returned_objects: list[str],
         center: tuple[float, float] | None = None, zoom: int | None = None,
         view: str | None = None) -> dict[str, Any] | None:
    """The map component with ``args`` from :func:`component_args` (as ``st_folium`` with
    ``use_container_width=True``); returns what the map reported, as st_folium does.

    ``view`` (:func:`view_script`) is run by the component after the map's script and again
    whenever it changes (st_folium's ``feature_group``, its way of updating a drawn map): the
    same map, and the same frame, show the next view."""
    import streamlit as st
    from streamlit_folium import _component_func, generate_js_hash

    defaults = {"last_clicked": None, "last_object_clicked": None, "last_object_clicked_count": None,
                "last_object_clicked_tooltip": None, "last_object_clicked_popup": None, "all_drawings": None,
                "last_active_drawing": None, "bounds": args["bounds"], "zoom": args["zoom"],
                "last_circle_radius": None, "last_circle_polygon": None, "selected_layers": None,
                "selected_tags": None, "last_geocoder_result": None}
    hash_key = generate_js_hash(args["script"], key, False)

    def _on_change() -> None:
        st.session_state[key] = st.session_state.get(hash_key, {})

    return _component_func(
        script=args["script"], header=args["header"], html=args["html"], id=args["id"], key=hash_key,
        height=height, width=None, returned_objects=returned_objects,
        default={k: v for k, v in defaults.items() if k in returned_objects}, zoom=zoom, center=center,
        feature_group=view, return_on_hover=False, layer_control=None, pixelated=False,
        css_links=args["css_links"], js_links=args["js_links"], on_change=_on_change, wrap_longitude=False)


#: colours of the changes a period brings, on the Changes page's map
CHANGE_COLOURS = {"closed": "#d7301f", "opened": "#1a9850", "reopened": "#66bd63", "moved": "#4575b4"}


def changes_map(rows: pd.DataFrame) -> folium.Map:
    """Sites that opened, reopened, moved (where they went) or closed (where they were), as
    circles coloured by change, each with its name, category and date (escaped)."""
    m = vendor.offline_map(control_scale=True)
    if settings.tile_url:
        folium.TileLayer(tiles=settings.tile_url, attr=settings.tile_attribution or "tiles", name="Basemap").add_to(m)
    for r in rows.itertuples():
        label = (f"{html.escape(str(r.name))}<br>{html.escape(CATEGORY_LABELS.get(r.category, r.category))}: "
                 f"{html.escape(str(r.change))} {str(r.at)[:10]}")
        folium.CircleMarker([r.lat, r.lon], radius=7, color=CHANGE_COLOURS.get(r.change, "#555"), fill=True,
                            fill_opacity=0.8, weight=1, tooltip=label).add_to(m)
    if len(rows):
        m.fit_bounds([[rows["lat"].min(), rows["lon"].min()], [rows["lat"].max(), rows["lon"].max()]])
    return m


def walking_map(area: dict[str, Any]) -> folium.Map:
    """The streets within each band of a walk from a provider (:func:`assetmap.queries.walking_area`):
    the nearer band dark, the farther light, and the provider as a marker."""
    m = vendor.offline_map(control_scale=True)
    if settings.tile_url:
        folium.TileLayer(tiles=settings.tile_url, attr=settings.tile_attribution or "tiles", name="Basemap").add_to(m)
    colours = ["#08306b", "#6baed6", "#c6dbef"]
    lons, lats = [], []
    for i, feature in enumerate(area["geojson"]["features"]):
        minutes = feature["properties"]["minutes"]
        colour = colours[min(i, len(colours) - 1)]
        folium.GeoJson(feature, name=f"{minutes} minutes' walk", control=False,
                       style_function=lambda _f, c=colour: {"color": c, "weight": 3, "opacity": 0.9}).add_to(m)
        for line in feature["geometry"]["coordinates"]:
            for lon, lat in line:
                lons.append(lon)
                lats.append(lat)
    if area.get("lat") is not None:
        folium.CircleMarker([area["lat"], area["lon"]], radius=8, color="#fff", weight=2, fill=True,
                            fill_color=CATEGORY_COLOURS.get(area["category"], "#000"), fill_opacity=1.0,
                            tooltip=html.escape(str(area["name"]))).add_to(m)
        lats.append(area["lat"])
        lons.append(area["lon"])
    if lons:
        m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    return m
