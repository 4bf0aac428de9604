-- assetmap schema version 5: applied in one transaction; never edit once shipped
-- Point-location index of the areas (see assetmap.geography): each level's polygons as
-- native 2-D polygons (``area_parts``, one row per polygon of a multipolygon) and the
-- cells of a regular grid each polygon touches (``area_cells``). Placing points is then a
-- hash join on the cell key and an exact point-in-polygon test on a few candidates.
-- ``basis`` fingerprints the areas it was built from, like display_areas.
CREATE TABLE area_grid (
    level    VARCHAR PRIMARY KEY,
    cell_m   DOUBLE NOT NULL CHECK (cell_m > 0),
    x0       DOUBLE NOT NULL,
    y0       DOUBLE NOT NULL,
    x1       DOUBLE NOT NULL,
    y1       DOUBLE NOT NULL,
    parts    INTEGER NOT NULL,
    cells    BIGINT NOT NULL,
    basis    VARCHAR NOT NULL
);
CREATE TABLE area_parts (
    level    VARCHAR NOT NULL,
    part_id  INTEGER NOT NULL,
    code     VARCHAR NOT NULL,
    poly     POLYGON_2D NOT NULL,
    PRIMARY KEY (level, part_id)
);
CREATE TABLE area_cells (
    level    VARCHAR NOT NULL,
    cell     BIGINT NOT NULL,
    part_id  INTEGER NOT NULL
);
