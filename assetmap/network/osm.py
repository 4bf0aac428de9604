"""OpenStreetMap extracts as a walking network: PBF and XML, read with pyosmium.

The walkable ways are those a person may walk along: ``highway`` = footway, path, pedestrian,
steps, living_street, residential, service, unclassified, track, cycleway, bridleway, road,
tertiary, secondary, primary and their links. Not motorways or trunk roads, and not a way tagged
``foot`` = no / private, nor ``access`` = no / private unless ``foot`` allows it. Edges join
consecutive nodes of a way, so the topology is OSM's own: a bridge crosses the road beneath it
without joining it (they share no node).

The same file's amenities (places of worship, community centres, language schools, refugee
services; what ``assetmap fetch`` asks Overpass for) are read as assets exactly as the Overpass
reader reads them (:func:`assetmap.sources.osm.classify`): a node at its place, a way or
relation at the centre of its bounding box (Overpass's ``out center``).
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer

from assetmap.errors import FileRefused
from assetmap.settings import DISPLAY_CRS, STORE_CRS

log = logging.getLogger(__name__)

#: A timestamp of 0 (the epoch) in a file's header means it gave none.
_EPOCH = _dt.datetime(1970, 1, 1)

KIND = "network"

#: ``highway`` values walked on.
WALKABLE = frozenset({
    "footway", "path", "pedestrian", "steps", "living_street", "residential", "service", "unclassified",
    "track", "cycleway", "bridleway", "road", "tertiary", "tertiary_link", "secondary", "secondary_link",
    "primary", "primary_link",
})
_NO = frozenset({"no", "private"})
_FOOT_YES = frozenset({"yes", "designated", "permissive", "destination"})
#: The amenities read as assets: what ``assetmap fetch`` asks the Overpass API for.
_AMENITIES = frozenset({"place_of_worship", "community_centre", "language_school"})


def walkable(tags: Any) -> bool:
    """Whether a way with these OSM tags may be walked along."""
    if tags.get("highway") not in WALKABLE:
        return False
    foot = tags.get("foot")
    if foot in _NO:
        return False
    return not (tags.get("access") in _NO and foot not in _FOOT_YES)


def _is_place(tags: Any) -> bool:
    if tags.get("amenity") in _AMENITIES:
        return True
    sf_for = str(tags.get("social_facility:for", "")).lower()
    return any(w in sf_for for w in ("refugee", "migrant", "asylum"))


@dataclass
class RawNetwork:
    """The walkable ways of a file, before components are checked.

    Nodes in EPSG:27700 and one edge per pair of consecutive nodes of a way (``from_node``, ``to_node``,
    ``length_m``, ``highway``, ``way_id``).
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    timestamp: _dt.datetime | None
    ways: int
    #: the extract's extent from its header or <bounds> (min_x, min_y, max_x, max_y in EPSG:27700)
    extent: tuple[float, float, float, float] | None = None


def _format(data: bytes, path: Path) -> str:
    """``pbf`` or ``osm`` (XML) from the bytes; refuse anything else."""
    head = data[:64]
    if b"OSMHeader" in head[:16]:
        return "pbf"
    text = data[:2048].lstrip().lower()
    if (text.startswith(b"<?xml") and b"<osm" in text) or text.startswith(b"<osm"):
        return "osm"
    raise FileRefused("unknown_format", f"{path.name}: not an OpenStreetMap PBF or XML file")


def looks_like_osm_file(data: bytes, path: Path) -> bool:
    """Whether ``data`` (named ``path``) is an OpenStreetMap extract (PBF or XML)."""
    try:
        _format(data, path)
    except FileRefused:
        return False
    return True


def _header(osmium: Any, buffer: Any) -> tuple[_dt.datetime | None, tuple[float, float, float, float] | None]:
    """Return the file's date and its extent (lon/lat box), where its header gives them."""
    reader = osmium.io.Reader(buffer, osmium.osm.osm_entity_bits.NOTHING)
    try:
        header = reader.header()
        stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
        box = header.box()
        extent = ((box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)
                  if box.valid() else None)
    finally:
        reader.close()
    when = None
    if stamp:
        try:
            when = _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(_dt.UTC).replace(tzinfo=None)
        except ValueError:
            when = None
    return when, extent


#: A place an OSM file holds: its OSM id, tags, latitude and longitude.
Place = tuple[str, dict[str, str], Any, Any]


def parse(data: bytes, path: Path) -> tuple[RawNetwork, list[Place]]:
    """Read the walkable ways and the places of an OSM file.

    Returns the raw network and the places (which :mod:`assetmap.sources.osm_network` reads as
    the Overpass reader reads places).
    Raises :class:`FileRefused` for a file that is not OSM, is cut short, or holds no walkable way.
    """
    import osmium  # imported here: only a network file needs it

    fmt = _format(data, path)
    seen = _Collected()
    try:
        stamp, bounds = _header(osmium, osmium.io.FileBuffer(data, fmt))
        # relations first (their member ways' extents are wanted in the main pass)
        relations: Any = osmium.FileProcessor(osmium.io.FileBuffer(data, fmt), osmium.osm.RELATION)
        for rel in relations:
            seen.relation(rel)
        processor: Any = osmium.FileProcessor(osmium.io.FileBuffer(data, fmt)).with_locations()
        for obj in processor:
            seen.note_time(obj.timestamp)
            if obj.is_node():
                seen.node(obj)
            elif obj.is_way():
                seen.way(obj)
    except RuntimeError as exc:
        # libosmium's messages name the fault ("PBF error: truncated data"), not the content
        raise FileRefused("unreadable", f"{path.name}: not a readable OpenStreetMap file "
                                        f"({str(exc).splitlines()[0][:120]})") from None
    places = seen.places + seen.relation_places()
    if not seen.way_nodes:
        raise FileRefused("no_network", f"{path.name}: no walkable way (highway=footway, residential, ...) "
                                        "in this OpenStreetMap file")
    return _network(seen, stamp or seen.newest, bounds), places


class _Collected:
    """What one pass over an OSM file keeps.

    The walkable ways' nodes, the places, the extents of the ways that place relations name, and the newest
    edit.
    """

    def __init__(self) -> None:
        self.newest: _dt.datetime | None = None
        self.node_xy: dict[int, tuple[float, float]] = {}
        self.way_nodes: list[tuple[int, str, list[int]]] = []
        self.places: list[Place] = []
        self.relations: list[tuple[str, dict[str, str], list[int]]] = []
        self.wanted: set[int] = set()
        self.way_boxes: dict[int, tuple[float, float, float, float]] = {}

    def note_time(self, ts: _dt.datetime | None) -> None:
        if ts is not None and ts.year > _EPOCH.year:  # 0: no timestamp
            t = ts.replace(tzinfo=None) if ts.tzinfo is None else ts.astimezone(_dt.UTC).replace(tzinfo=None)
            self.newest = t if self.newest is None or t > self.newest else self.newest

    def relation(self, rel: Any) -> None:
        if _is_place(rel.tags):
            members = [m.ref for m in rel.members if m.type == "w"]
            self.relations.append((f"relation/{rel.id}", dict(rel.tags), members))
            self.wanted.update(members)

    def node(self, obj: Any) -> None:
        if _is_place(obj.tags) and obj.location.valid():
            self.places.append((f"node/{obj.id}", dict(obj.tags), obj.location.lat, obj.location.lon))

    def way(self, obj: Any) -> None:
        tags = obj.tags
        if walkable(tags):
            self._walkable(obj.id, str(tags.get("highway")), obj.nodes)
        is_place = _is_place(tags)
        if not (is_place or obj.id in self.wanted):
            return
        pts = [(n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()]
        if not pts:
            if is_place:
                self.places.append((f"way/{obj.id}", dict(tags), None, None))
            return
        lons, lats = zip(*pts, strict=True)
        box = (min(lons), min(lats), max(lons), max(lats))
        self.way_boxes[obj.id] = box
        if is_place:
            self.places.append((f"way/{obj.id}", dict(tags), (box[1] + box[3]) / 2, (box[0] + box[2]) / 2))

    def _walkable(self, way_id: int, highway: str, nodes: Any) -> None:
        way: list[int] = []
        for n in nodes:
            if n.location.valid():
                self.node_xy[n.ref] = (n.location.lon, n.location.lat)
                way.append(n.ref)
            else:  # a node the extract cut off: the way stops there
                if len(way) > 1:
                    self.way_nodes.append((way_id, highway, way))
                way = []
        if len(way) > 1:
            self.way_nodes.append((way_id, highway, way))

    def relation_places(self) -> list[Place]:
        """Each place relation at the middle of its member ways' extents (no position without them)."""
        out: list[Place] = []
        for osm_id, tags, members in self.relations:
            boxes = [self.way_boxes[m] for m in members if m in self.way_boxes]
            if boxes:
                b = np.array(boxes)
                out.append((osm_id, tags, (b[:, 1].min() + b[:, 3].max()) / 2, (b[:, 0].min() + b[:, 2].max()) / 2))
            else:
                out.append((osm_id, tags, None, None))
        return out


def _network(seen: _Collected, stamp: _dt.datetime | None,
             bounds: tuple[float, float, float, float] | None) -> RawNetwork:
    """Return the walkable ways as nodes on the national grid and one edge per pair of consecutive nodes."""
    node_xy = seen.node_xy
    ids = np.fromiter(node_xy, dtype=np.int64, count=len(node_xy))
    lonlat = np.array(list(node_xy.values()), dtype=float)
    to_bng = Transformer.from_crs(DISPLAY_CRS, STORE_CRS, always_xy=True)
    x, y = to_bng.transform(lonlat[:, 0], lonlat[:, 1])
    extent = None
    if bounds is not None:
        w, s, e, n = bounds
        bx, by = to_bng.transform([w, w, e, e], [s, n, s, n])
        extent = (min(bx), min(by), max(bx), max(by))
    nodes = pd.DataFrame({"node_id": ids, "x": np.asarray(x), "y": np.asarray(y)})
    frm, to, hw, wid = [], [], [], []
    for way_id, highway, ns in seen.way_nodes:
        frm.extend(ns[:-1])
        to.extend(ns[1:])
        hw.extend([highway] * (len(ns) - 1))
        wid.extend([way_id] * (len(ns) - 1))
    edges = pd.DataFrame({"from_node": np.asarray(frm, dtype=np.int64), "to_node": np.asarray(to, dtype=np.int64),
                          "highway": hw, "way_id": np.asarray(wid, dtype=np.int64)})
    pos = pd.Series(np.arange(len(ids)), index=ids)
    fi, ti = pos[edges["from_node"]].to_numpy(), pos[edges["to_node"]].to_numpy()
    edges["length_m"] = np.round(np.hypot(nodes["x"].to_numpy()[fi] - nodes["x"].to_numpy()[ti],
                                          nodes["y"].to_numpy()[fi] - nodes["y"].to_numpy()[ti]), 3)
    edges = edges[edges["from_node"] != edges["to_node"]].reset_index(drop=True)
    return RawNetwork(nodes, edges, stamp, len(seen.way_nodes), extent)
