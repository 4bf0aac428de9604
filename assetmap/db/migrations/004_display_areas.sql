-- assetmap schema version 4: applied in one transaction; never edit once shipped
-- Display geometry of the maps: each area simplified once per detail level (shared edges
-- kept shared), in EPSG:4326 GeoJSON. ``basis`` fingerprints the areas it was made from,
-- so it is remade only when the boundaries change (see assetmap.display).
CREATE TABLE display_areas (
    level    VARCHAR NOT NULL,
    code     VARCHAR NOT NULL,
    detail   VARCHAR NOT NULL CHECK (detail IN ('overview', 'detail')),
    geojson  VARCHAR NOT NULL,
    basis    VARCHAR NOT NULL,
    PRIMARY KEY (level, code, detail)
);
