-- assetmap schema version 9: applied in one transaction; never edit once shipped
-- The assets as the analysis last saw them: an incremental recompute compares them with
-- the assets now, and so knows exactly which moved, opened, closed or changed capacity.
CREATE TABLE analysed_assets (
    asset_id   VARCHAR PRIMARY KEY,
    category   VARCHAR NOT NULL,
    x          DOUBLE NOT NULL,
    y          DOUBLE NOT NULL,
    capacity   DOUBLE NOT NULL
);
