-- assetmap schema version 18: applied in one transaction; never edit once shipped
-- What the command line reports without loading the spatial extension (0.2 s a command): each
-- area's bounding box in WGS84 (lon/lat; the box of its BNG envelope's corners), written when the
-- area is, and how far a site moved, written with the version a move begins.
ALTER TABLE areas ADD COLUMN lon_min DOUBLE;
ALTER TABLE areas ADD COLUMN lat_min DOUBLE;
ALTER TABLE areas ADD COLUMN lon_max DOUBLE;
ALTER TABLE areas ADD COLUMN lat_max DOUBLE;
UPDATE areas SET lon_min = ST_XMin(e.box), lat_min = ST_YMin(e.box), lon_max = ST_XMax(e.box), lat_max = ST_YMax(e.box)
FROM (SELECT code, ST_Transform(ST_Envelope(geom), 'EPSG:27700', 'EPSG:4326', always_xy := true) AS box
      FROM areas) e
WHERE areas.code = e.code;
ALTER TABLE asset_versions ADD COLUMN moved_m DOUBLE;
UPDATE asset_versions SET moved_m = ST_Distance(p.geom, asset_versions.geom)
FROM asset_versions p
WHERE asset_versions.change = 'moved' AND p.asset_id = asset_versions.asset_id
  AND p.version = asset_versions.version - 1;
