"""Local stand-ins for the services `assetmap fetch` asks, answering in their real shapes, built
from the real Cardiff data in ../shared/geodata-sources (so a fetched Cardiff is the real one):

- the ONS Open Geography Portal's ArcGIS REST feature services (``.../<service>/FeatureServer/0/
  query``, GET or POST; ``where`` as ``1=1`` or ``FIELD IN (...)``; ``f=json`` with
  ``attributes`` or ``f=geojson``; paged by ``resultOffset``/``resultRecordCount`` with
  ``exceededTransferLimit``; ``returnDistinctValues``): the OA21 -> ward -> LAD lookup (each OA
  in the ward holding its point on surface, in British National Grid, as ONS's best fit), the
  ward and output-area boundaries, under the 2021/2023 services' field names;
- the Nomis API: the local authorities' ``.def.sdmx.json`` code list, and ``.data.csv`` of TS021
  (the real 2011 counts under the 2021 labels, with the total and the subtotals the API gives),
  TS029 and TS004 (synthetic, deterministic), paged by ``recordoffset``/``recordlimit``;
- the Overpass API: ``[out:json]`` elements for Cardiff's real warm-space venues, a few as ways
  with their ``center``.

Also ``LAD23_RGN23_EN_LU`` (England's authorities and their regions) and
``OA21_LSOA21_MSOA21_LAD22_EW_LU`` (each OA's 2022 district). ``layout`` says whose Cardiff is:
itself; Wales as two authorities (its wards split in code order); or North Yorkshire, an
authority created in 2023 that Nomis does not list, made of two 2022 districts it does.

Faults can be switched on per path prefix: ``429`` with ``Retry-After``, and a response cut short.
Every request is logged (method, path, parameters).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import geopandas as gpd

NOMIS_CARDIFF = "1946157397"
LAS = [("W06000015", "Cardiff"), ("W06000018", "Caerphilly"), ("E08000025", "Birmingham")]
#: Nomis ids of the authorities its Census 2021 geography (TYPE154, "2022 local authorities:
#: districts") lists: North Yorkshire (E06000065, April 2023) is not among them, the districts it
#: replaced are.
NOMIS_IDS = {"W06000015": NOMIS_CARDIFF, "W06000018": "1946157398", "E07000165": "1946157101",
             "E07000169": "1946157102"}
NAMES = {"W06000015": "Cardiff", "W06000018": "Caerphilly", "E08000025": "Birmingham", "E06000065": "North Yorkshire",
         "E07000165": "Harrogate", "E07000169": "Selby"}
#: Each English authority's region, as ``LAD23_RGN23_EN_LU`` gives it.
REGIONS = {"E08000025": ("E12000005", "West Midlands"), "E06000065": ("E12000003", "Yorkshire and The Humber")}
#: Where Cardiff's wards (in code order: the first half, the second) stand in each layout, as
#: (2023 authority, 2022 district) pairs: ``cardiff`` as it is; ``wales`` split in two authorities of
#: Wales; ``north-yorkshire`` as one authority created in 2023 from two 2022 districts.
LAYOUTS = {"cardiff": (("W06000015", "W06000015"), ("W06000015", "W06000015")),
           "wales": (("W06000015", "W06000015"), ("W06000018", "W06000018")),
           "north-yorkshire": (("E06000065", "E07000165"), ("E06000065", "E07000169"))}
COMPACT_2021 = {  # the 2011 extract's columns under the 2021 TS021 labels
    "WhiteBrit": "White: English, Welsh, Scottish, Northern Irish or British", "Irish": "White: Irish",
    "OtherWhite": "White: Other White",
    "Mixed": "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups",
    "Indian": "Asian, Asian British or Asian Welsh: Indian",
    "Pakistani": "Asian, Asian British or Asian Welsh: Pakistani",
    "Bangladeshi": "Asian, Asian British or Asian Welsh: Bangladeshi",
    "Chinese": "Asian, Asian British or Asian Welsh: Chinese",
    "OtherAsian": "Asian, Asian British or Asian Welsh: Other Asian",
    "BlkAfrican": "Black, Black British, Black Welsh, Caribbean or African: African",
    "BlkCaribbean": "Black, Black British, Black Welsh, Caribbean or African: Caribbean",
    "OtherBlk": "Black, Black British, Black Welsh, Caribbean or African: Other Black",
    "Arab": "Other ethnic group: Arab", "Other": "Other ethnic group: Any other ethnic group",
}
ENGLISH = ["Main language is English (English or Welsh in Wales)",
           "Main language is not English (English or Welsh in Wales): Can speak English very well",
           "Main language is not English (English or Welsh in Wales): Can speak English well",
           "Main language is not English (English or Welsh in Wales): Cannot speak English well",
           "Main language is not English (English or Welsh in Wales): Cannot speak English"]
BIRTH = ["Europe: United Kingdom", "Europe: Ireland", "Europe: Other Europe: EU countries",
         "Europe: Other Europe: Non-EU countries", "Africa", "Middle East and Asia",
         "The Americas and the Caribbean", "Antarctica, Oceania (including Australasia) and Other",
         "British Overseas"]


def _parts(total: int, key: str, shares: list[float]) -> list[int]:
    """``total`` split by ``shares`` (jittered by the OA's code), summing to ``total``."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    weights = [s * (1 + ((h >> (3 * i)) % 7) / 10) for i, s in enumerate(shares)]
    raw = [total * w / sum(weights) for w in weights]
    out = [int(r) for r in raw]
    out[0] += total - sum(out)
    return out


class Data:
    """Cardiff as the services would give it."""

    def __init__(self, shared: Path, layout: str = "cardiff") -> None:
        self.shared = shared
        city = shared / "cardiff"
        wards = gpd.read_file(city / "wards_2013.geojson")
        oas = gpd.read_file(city / "oa_2011.geojson")
        points = oas.to_crs(27700).representative_point()
        inside = gpd.sjoin(gpd.GeoDataFrame(oas[["OA11CD"]], geometry=points, crs=27700),
                           wards.to_crs(27700)[["WD13CD", "WD13NM", "geometry"]], predicate="within", how="left")
        inside = inside.drop_duplicates("OA11CD")
        ward_codes = sorted(wards["WD13CD"])
        half = set(ward_codes[len(ward_codes) // 2:])
        first, second = LAYOUTS[layout]
        #: each OA's 2022 district (the census geography Nomis lists)
        self.lad22: dict[str, str] = {}
        self.lookup = []
        for r in inside.itertuples():
            if not isinstance(r.WD13CD, str):
                continue
            lad23, lad22 = second if r.WD13CD in half else first
            self.lad22[r.OA11CD] = lad22
            self.lookup.append({"OA21CD": r.OA11CD, "WD23CD": r.WD13CD, "WD23NM": r.WD13NM, "LAD23CD": lad23,
                                "LAD23NM": NAMES[lad23]})
        here = {row["LAD23CD"] for row in self.lookup}
        self.lookup += [{"OA21CD": "E00999999", "WD23CD": "E05999999", "WD23NM": "Elsewhere", "LAD23CD": c,
                         "LAD23NM": n} for c, n in LAS[1:] if c not in here]
        self.wards = [self._feature({"WD23CD": r["WD13CD"], "WD23NM": r["WD13NM"], "WD23NMW": r["WD13NMW"]}, g)
                      for r, g in zip(wards.to_dict("records"), wards.geometry, strict=False)]
        self.oas = [self._feature({"OA21CD": r["OA11CD"], "LSOA21CD": None}, g)
                    for r, g in zip(oas.to_dict("records"), oas.geometry, strict=False)]
        codes = set(oas["OA11CD"])
        with gzip.open(shared / "census2011" / "oa_ethnic_group_2011_ew.csv.gz", "rt") as fh:
            self.census = [row for row in csv.DictReader(fh) if row["OA"] in codes]
        self.venues = json.loads((city / "warm_spaces_2022.geojson").read_text())["features"]

    @staticmethod
    def _feature(props: dict, geom) -> dict:
        from shapely.geometry import mapping

        return {"type": "Feature", "properties": props, "geometry": mapping(geom)}

    def nomis_rows(self, dataset: str, district: str = "W06000015") -> list[tuple[str, str, int]]:
        """A census table's rows for the OAs of one 2022 district, as Nomis gives them."""
        out: list[tuple[str, str, int]] = []
        for row in self.census:
            oa, total = row["OA"], int(row["Persons"])
            if self.lad22.get(oa, "W06000015") != district:
                continue
            if dataset == "NM_2041_1":
                out.append((oa, "Total: All usual residents", total))
                counts = {COMPACT_2021[k]: int(row[k]) for k in COMPACT_2021}
                for group in ("White", "Mixed or Multiple ethnic groups", "Asian, Asian British or Asian Welsh",
                              "Black, Black British, Black Welsh, Caribbean or African", "Other ethnic group"):
                    out.append((oa, group, sum(v for k, v in counts.items() if k.startswith(group + ":"))))
                out += [(oa, k, v) for k, v in counts.items()]
            elif dataset == "NM_2048_1":
                aged3 = int(total * 0.96)
                parts = _parts(aged3, oa, [0.86, 0.06, 0.04, 0.03, 0.01])
                out.append((oa, "Total: All usual residents aged 3 years and over", aged3))
                out.append((oa, "Main language is not English (English or Welsh in Wales)", sum(parts[1:])))
                out += list(zip([oa] * 5, ENGLISH, parts, strict=False))
            elif dataset == "NM_2024_1":
                parts = _parts(total, oa, [0.85, 0.01, 0.04, 0.01, 0.03, 0.04, 0.01, 0.005, 0.005])
                out.append((oa, "Total: All usual residents", total))
                out.append((oa, "Europe", sum(parts[:4])))
                out.append((oa, "Europe: Other Europe", parts[2] + parts[3]))
                out += list(zip([oa] * 9, BIRTH, parts, strict=False))
        return out

    @staticmethod
    def streets(south: float, west: float, north: float, east: float) -> bytes:
        """Streets over the box asked for: the demo's synthetic street pattern (Cardiff's real
        streets are not beside this repository), as the Overpass API's OSM XML."""
        import tempfile

        import numpy as np
        from pyproj import Transformer
        from shapely.geometry import box

        from assetmap.network.synthetic import write_network

        to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
        xs, ys = to_bng.transform([west, east], [south, north])
        with tempfile.TemporaryDirectory() as tmp:
            path = write_network(Path(tmp) / "streets.osm", box(min(xs), min(ys), max(xs), max(ys)),
                                 np.random.default_rng(1), spacing=200.0)
            return path.read_bytes()

    def overpass(self) -> dict:
        elements = []
        for i, f in enumerate(self.venues):
            p = f["properties"]
            title = p.get("title") or ""
            lon, lat = f["geometry"]["coordinates"][:2]
            tags: dict[str, Any] = {"name": title, "addr:full": p.get("address") or ""}
            if re.search(r"church|chapel|cathedral", title, re.I):
                tags.update(amenity="place_of_worship", religion="christian")
            elif re.search(r"mosque|masjid", title, re.I):
                tags.update(amenity="place_of_worship", religion="muslim")
            else:
                tags["amenity"] = "community_centre"
            if i % 5 == 0:  # a building: `out center` gives its centre
                elements.append({"type": "way", "id": 9_000_000 + i, "center": {"lat": lat, "lon": lon},
                                 "tags": tags})
            else:
                elements.append({"type": "node", "id": 8_000_000 + i, "lat": lat, "lon": lon, "tags": tags})
        return {"version": 0.6, "generator": "Overpass API (local stand-in)",
                "osm3s": {"copyright": "The data included in this document is from www.openstreetmap.org. "
                                       "The data is made available under ODbL."},
                "elements": elements}


class FakeServices:
    """The stand-in server: ``with FakeServices(shared) as fs: fs.urls``..."""

    def __init__(self, shared: Path, arcgis_page: int = 2000, nomis_page: int = 25_000,
                 layout: str = "cardiff") -> None:
        self.data = Data(shared, layout)
        self.arcgis_page, self.nomis_page = arcgis_page, nomis_page
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.agents: set[str] = set()
        self.faults: dict[str, dict[str, Any]] = {}  # path prefix -> {"kind": "429"|"cut", "times", ...}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                owner._serve(self, url.path, dict(urllib.parse.parse_qsl(url.query)), "GET")

            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                params = {**dict(urllib.parse.parse_qsl(url.query)), **dict(urllib.parse.parse_qsl(body))}
                owner._serve(self, url.path, params, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.urls = {"ons": f"{self.base}/arcgis/rest/services", "nomis": f"{self.base}/api/v01",
                     "overpass": f"{self.base}/api/interpreter", "bods": f"{self.base}/bods"}
        #: a council's service directory, as an Open Referral UK 3.0 API (not a setting: given by --url)
        self.directory_url = f"{self.base}/directory/api/v3"
        self.directory = directory(shared)
        self.directory_page = 10  # the most a page holds, whatever per_page asks (as such APIs cap it)
        self.directory_gone: set[str] = set()  # ids listed whose /services/{id} answers 404
        #: the Bus Open Data Service's stand-in: the API key it takes, and the feed it gives
        self.bods_key = "k3y-for-tests"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeServices:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answering -------------------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler, path: str, params: dict[str, str], method: str) -> None:
        with self._lock:
            self.log.append((method, path, params))
            self.agents.add(h.headers.get("User-Agent", ""))
            fault = next((f for p, f in self.faults.items() if path.startswith(p) and f["times"] > 0), None)
            if fault:
                fault["times"] -= 1
        status, ctype, body = self._answer(path, params)
        if fault and fault["kind"] == "429":
            h.send_response(429)
            h.send_header("Retry-After", str(fault.get("retry_after", 1)))
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        if fault and fault["kind"] == "cut":  # says more than it sends, then closes
            h.send_header("Content-Length", str(len(body)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        m = re.fullmatch(r"/arcgis/rest/services/([^/]+)/FeatureServer/0/query", path)
        if m:
            return self._arcgis(m.group(1), params)
        m = re.fullmatch(r"/api/v01/dataset/(NM_\d+_1)/geography/TYPE154\.def\.sdmx\.json", path)
        if m:
            return 200, "application/json", json.dumps(self._codelist()).encode()
        m = re.fullmatch(r"/api/v01/dataset/(NM_\d+_1)\.data\.csv", path)
        if m:
            return self._nomis(m.group(1), params)
        if path == "/api/interpreter":
            bbox = re.search(r"\[bbox:([-\d.]+),([-\d.]+),([-\d.]+),([-\d.]+)\]", params.get("data", ""))
            if "[out:xml]" in params.get("data", "") and bbox:
                return 200, "application/osm3s+xml", self.data.streets(*map(float, bbox.groups()))
            if any(f'"ref:gss"="{c}"' in params.get("data", "") for c in ("W06000015", "E06000065")):
                return 200, "application/json", json.dumps(self.data.overpass()).encode()
            return 200, "application/json", json.dumps({"elements": []}).encode()
        if path.startswith("/directory/api/v3/services"):
            return self._directory(path.removeprefix("/directory/api/v3/services"), params)
        if path == "/bods/timetable/download/gtfs-file/wales/":
            if params.get("api_key") != self.bods_key:
                return 401, "text/plain", b"Invalid API key"
            feed = self.data.shared / "cardiff-network" / "cardiff_gtfs_2018.zip"
            return 200, "application/zip", feed.read_bytes()
        return 404, "text/plain", b"not found"

    def _directory(self, rest: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        """The directory's ``/services`` (3.0 list pages: each service as a list gives it, without
        its locations) and ``/services/{id}`` (the service whole)."""
        if rest.startswith("/"):
            sid = urllib.parse.unquote(rest[1:])
            found = [s for s in self.directory if s["id"] == sid and sid not in self.directory_gone]
            return (200, "application/json", json.dumps(found[0]).encode()) if found else \
                (404, "application/json", b'{"message": "not found"}')
        size = min(int(params.get("per_page") or 50), self.directory_page)
        page = int(params.get("page") or 1)
        total = len(self.directory)
        pages = max(1, -(-total // size))
        listed = [{k: s[k] for k in ("id", "name", "description", "status") if k in s}
                  for s in self.directory[(page - 1) * size: page * size]]
        body = {"total_items": total, "total_pages": pages, "page_number": page, "size": len(listed),
                "first_page": page == 1, "last_page": page >= pages, "empty": not listed, "contents": listed}
        return 200, "application/json", json.dumps(body).encode()

    def _arcgis(self, service: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        source = {"OA21_WD23_LAD23_EW_LU": None, "Wards_December_2023_Boundaries_UK_BGC": self.data.wards,
                  "Output_Areas_2021_EW_BGC_V2": self.data.oas, "LAD23_RGN23_EN_LU": None,
                  "OA21_LSOA21_MSOA21_LAD22_EW_LU": None}
        if service not in source:
            return 200, "application/json", json.dumps({"error": {"code": 400, "message": "Invalid URL"}}).encode()
        where = params.get("where", "1=1")
        m = re.fullmatch(r"(\w+) IN \((.*)\)", where.strip())
        wanted = (m.group(1), {c.strip(" '") for c in m.group(2).split(",")}) if m else None
        if where.strip() != "1=1" and wanted is None:
            return 200, "application/json", json.dumps({"error": {"code": 400, "message": "bad where"}}).encode()
        if service == "OA21_WD23_LAD23_EW_LU":
            records = [dict(r) for r in self.data.lookup]
        elif service == "LAD23_RGN23_EN_LU":  # England's authorities only, as published
            records = [{"LAD23CD": c, "LAD23NM": NAMES[c], "RGN23CD": rc, "RGN23NM": rn}
                       for c, (rc, rn) in sorted(REGIONS.items())]
        elif service == "OA21_LSOA21_MSOA21_LAD22_EW_LU":
            records = [{"OA21CD": oa, "LSOA21CD": None, "MSOA21CD": None, "LAD22CD": d, "LAD22NM": NAMES[d]}
                       for oa, d in sorted(self.data.lad22.items())]
        else:
            records = [f["properties"] | {"__feature__": f} for f in source[service]]
        if wanted:
            records = [r for r in records if r.get(wanted[0]) in wanted[1]]
        fields = [f.strip() for f in params.get("outFields", "*").split(",")]
        if params.get("returnDistinctValues") == "true":
            seen = {tuple(r.get(f) for f in fields) for r in records}
            records = [dict(zip(fields, v, strict=False)) for v in sorted(seen)]
        offset = int(params.get("resultOffset", 0))
        count = min(int(params.get("resultRecordCount", self.arcgis_page)), self.arcgis_page)
        page, more = records[offset:offset + count], offset + count < len(records)
        if params.get("f") == "geojson":
            doc: dict[str, Any] = {"type": "FeatureCollection", "features": [r["__feature__"] for r in page]}
            if more:
                doc["properties"] = {"exceededTransferLimit": True}
        else:
            doc = {"features": [{"attributes": {k: v for k, v in r.items() if k != "__feature__"
                                                and (fields == ["*"] or k in fields)}} for r in page]}
            if more:
                doc["exceededTransferLimit"] = True
        return 200, "application/json", json.dumps(doc).encode()

    @staticmethod
    def _codelist() -> dict:
        return {"structure": {"codelists": {"codelist": [{"code": [
            {"value": int(nid), "description": {"value": NAMES[code]},
             "annotations": {"annotation": [{"annotationtitle": "GeogCode", "annotationtext": code},
                                            {"annotationtitle": "TypeCode", "annotationtext": "154"}]}}
            for code, nid in NOMIS_IDS.items()]}]}}}

    def _nomis(self, dataset: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        district = next((c for c, nid in NOMIS_IDS.items() if params.get("geography") == f"{nid}TYPE150"), None)
        if district is None:
            return 200, "text/csv", b""
        dim = params.get("select", "").split(",")[2].upper()
        rows = self.data.nomis_rows(dataset, district)
        offset = int(params.get("recordoffset", 0))
        limit = min(int(params.get("recordlimit", self.nomis_page)), self.nomis_page)
        buf = io.StringIO()
        w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        w.writerow(["DATE", "GEOGRAPHY_CODE", dim, "OBS_VALUE"])
        for oa, label, n in rows[offset:offset + limit]:
            w.writerow([2021, oa, label, n])
        return 200, "text/csv", buf.getvalue().encode()


#: The directory's services: (name, taxonomy term, where in Cardiff as (lat, lon), or None for the
#: standard example's placeholder coordinates). The terms are ones real directories use.
DIRECTORY = [
    ("Conversation Club", "English for Speakers of Other Languages (ESOL)", (51.4816, -3.1791)),
    ("Beginners' English", "English language classes", (51.4700, -3.1650)),
    ("Grangetown Hub", "Community centre", (51.4680, -3.1880)),
    ("Riverside Mosque", "Place of worship", (51.4840, -3.1950)),
    ("Welcome Drop-in", "Refugee and asylum support", (51.4900, -3.1600)),
    ("Splott Community Centre", "Community centre", (51.4780, -3.1500)),
    ("ESOL Entry 2", "ESOL", (51.4950, -3.2050)),
    ("St Mary's Church", "Place of worship", (51.4720, -3.1750)),
    ("Family Counselling", "Counselling", (51.4860, -3.1720)),  # no category of ours: quarantined
    ("Placeholder Centre", "Community centre", None),  # latitude 100, longitude 101: quarantined
] * 3


def directory(shared: Path) -> list[dict]:
    """Full Open Referral UK 3.0 services made from the standard's own example
    (``uk-profile/examples/service_full.json``): each with its own id, name, taxonomy term and a
    place in Cardiff (or the example's placeholder coordinates)."""
    example = json.loads((shared / "openreferral-uk" / "uk-profile" / "examples" / "service_full.json")
                         .read_text(encoding="utf-8"))
    out = []
    for i, (name, term, where) in enumerate(DIRECTORY):
        s = json.loads(json.dumps(example))
        s["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"directory/service/{i}"))
        s["name"] = f"{name} {i // len(DIRECTORY[:10]) + 1}" if i >= 10 else name
        s["description"] = f"{name}: a service of the test directory."
        s["attributes"] = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"directory/attr/{i}")), "link_id": s["id"],
                            "link_type": "service_category", "link_entity": "service",
                            "taxonomy_term_id": str(uuid.uuid5(uuid.NAMESPACE_URL, term)),
                            "taxonomy_term": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, term)), "name": term,
                                              "description": term, "taxonomy": "Council directory"}}]
        for sal in s.get("service_at_locations") or []:
            loc = sal["location"]
            loc["id"] = sal["location_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"directory/location/{i}"))
            if where:
                loc["latitude"], loc["longitude"] = where[0] + (i // 10) * 0.001, where[1]
        out.append(s)
    return out
