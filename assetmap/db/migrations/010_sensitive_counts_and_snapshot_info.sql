-- assetmap schema version 10: applied in one transaction; never edit once shipped
-- Sensitive sites counted per ward, filled in each published snapshot (empty in the working
-- store): all a public snapshot says about them, which holds none of their rows.
-- ``in_reach`` counts those within the reach of the ward profile (settings.profile_reach_m).
CREATE TABLE sensitive_site_counts (
    ward_code  VARCHAR NOT NULL,
    category   VARCHAR NOT NULL,
    in_ward    INTEGER NOT NULL,
    in_reach   INTEGER NOT NULL,
    PRIMARY KEY (ward_code, category)
);
-- What a snapshot is: its variant (public or partner) and id; empty in the working store.
CREATE TABLE snapshot_info (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR NOT NULL
);
