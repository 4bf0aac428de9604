-- assetmap schema version 14: applied in one transaction; never edit once shipped
-- The walking network (assetmap.network): OSM nodes in EPSG:27700 and the walkable edges
-- between consecutive nodes of a way: length to the millimetre; walk_m, the length as
-- effort (steps count 1 / steps_speed_factor times their length), which the engine routes
-- on; seconds, the walk at network_info.walk_speed_kmh. One network per store; a new
-- network file replaces it. network_info says where it came from.
CREATE TABLE network_nodes (
    node_id    BIGINT PRIMARY KEY,
    x          DOUBLE NOT NULL,
    y          DOUBLE NOT NULL
);
CREATE TABLE network_edges (
    from_node  BIGINT NOT NULL,
    to_node    BIGINT NOT NULL,
    length_m   DOUBLE NOT NULL CHECK (length_m >= 0),
    walk_m     DOUBLE NOT NULL CHECK (walk_m >= length_m),
    seconds    DOUBLE NOT NULL CHECK (seconds >= 0),
    highway    VARCHAR NOT NULL,
    way_id     BIGINT NOT NULL
);
CREATE TABLE network_info (
    ingest_id        INTEGER PRIMARY KEY,
    source           VARCHAR NOT NULL,
    sha256           VARCHAR NOT NULL,
    osm_timestamp    TIMESTAMP,
    walk_speed_kmh   DOUBLE NOT NULL,
    nodes            INTEGER NOT NULL,
    edges            INTEGER NOT NULL,
    dropped_nodes    INTEGER NOT NULL,
    dropped_islands  INTEGER NOT NULL,
    loaded_at        TIMESTAMP NOT NULL,
    -- the extract's own extent (its header's box, or an XML file's <bounds>), EPSG:27700:
    -- output areas outside it are beyond the network, however near a way the cut kept
    min_x            DOUBLE,
    min_y            DOUBLE,
    max_x            DOUBLE,
    max_y            DOUBLE
);
-- Which provider answered each access row: 'network' (on foot along the streets) or
-- 'crow_flies' (straight lines, where no network is loaded). nearest_min is the walk in
-- minutes at the network's speed; crow_m the straight line to the same nearest asset.
ALTER TABLE oa_access ADD COLUMN access_mode VARCHAR DEFAULT 'crow_flies';
ALTER TABLE oa_access ADD COLUMN nearest_min DOUBLE;
ALTER TABLE oa_access ADD COLUMN crow_m DOUBLE;
ALTER TABLE unit_access ADD COLUMN access_mode VARCHAR DEFAULT 'crow_flies';
ALTER TABLE unit_access ADD COLUMN nearest_min DOUBLE;
ALTER TABLE unit_access ADD COLUMN crow_m DOUBLE;
