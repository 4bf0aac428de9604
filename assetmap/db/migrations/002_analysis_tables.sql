-- assetmap schema version 2: applied in one transaction; never edit once shipped
-- Analysis results. ``unit_level`` is the level of the unit of analysis (ward by default;
-- msoa or la where data comes without wards); ``ward_code`` holds that unit's code.
CREATE TABLE ward_indices (
    unit_level   VARCHAR NOT NULL DEFAULT 'ward',
    ward_code    VARCHAR NOT NULL,
    focal_group  VARCHAR NOT NULL,
    index_name   VARCHAR NOT NULL CHECK (index_name IN ('dissimilarity', 'isolation', 'exposure', 'correlation_ratio', 'gini', 'theil_h', 'multigroup_dissimilarity', 'simpson_interaction', 'simpson_concentration', 'entropy', 'location_quotient')),
    value        DOUBLE,
    ci_low       DOUBLE,
    ci_high      DOUBLE,
    reliable     BOOLEAN NOT NULL,
    n_oas        INTEGER NOT NULL,
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (unit_level, ward_code, focal_group, index_name)
);
-- Indices published by partners, kept as a source of their own with provenance.
CREATE TABLE partner_indices (
    source       VARCHAR NOT NULL,
    ward_code    VARCHAR NOT NULL,
    focal_group  VARCHAR NOT NULL,
    index_name   VARCHAR NOT NULL,
    value        DOUBLE NOT NULL,
    ci_low       DOUBLE,
    ci_high      DOUBLE,
    ingest_id    INTEGER NOT NULL REFERENCES ingests (ingest_id),
    PRIMARY KEY (source, ward_code, focal_group, index_name)
);
CREATE TABLE oa_access (
    oa_code           VARCHAR NOT NULL,
    category          VARCHAR NOT NULL,
    population        DOUBLE NOT NULL,
    demand            DOUBLE NOT NULL,
    nearest_m         DOUBLE,
    nearest_asset_id  VARCHAR,
    n_800             INTEGER NOT NULL,
    n_1600            INTEGER NOT NULL,
    e2sfca            DOUBLE NOT NULL,
    PRIMARY KEY (oa_code, category)
);
-- What the last full recompute took each OA to be: its point (point on surface, EPSG:27700),
-- residents, and residents in demand of each category. Read back by incremental recomputes.
CREATE TABLE oa_inputs (
    oa_code                  VARCHAR PRIMARY KEY,
    x                        DOUBLE NOT NULL,
    y                        DOUBLE NOT NULL,
    population               DOUBLE NOT NULL,
    demand_community_centre  DOUBLE NOT NULL,
    demand_place_of_worship  DOUBLE NOT NULL,
    demand_esol_provider     DOUBLE NOT NULL,
    demand_refugee_support   DOUBLE NOT NULL
);
CREATE TABLE ward_access (
    unit_level        VARCHAR NOT NULL,
    ward_code         VARCHAR NOT NULL,
    category          VARCHAR NOT NULL,
    population        DOUBLE NOT NULL,
    demand            DOUBLE NOT NULL,
    demand_basis      VARCHAR NOT NULL,
    nearest_m         DOUBLE,
    share_within_800  DOUBLE,
    share_within_1600 DOUBLE,
    mean_n_1600       DOUBLE,
    e2sfca            DOUBLE,
    assets_in_unit    INTEGER NOT NULL,
    capacity_in_unit  DOUBLE NOT NULL,
    computed_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (unit_level, ward_code, category)
);
CREATE TABLE ward_need (
    unit_level   VARCHAR NOT NULL,
    ward_code    VARCHAR NOT NULL,
    component    VARCHAR NOT NULL,
    raw          DOUBLE,
    scaled       DOUBLE,
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (unit_level, ward_code, component)
);
CREATE TABLE ward_gaps (
    unit_level   VARCHAR NOT NULL,
    ward_code    VARCHAR NOT NULL,
    category     VARCHAR NOT NULL,
    need         DOUBLE NOT NULL,
    supply       DOUBLE NOT NULL,
    gap          DOUBLE NOT NULL,
    rank         INTEGER,
    components   JSON NOT NULL,
    flags        JSON,
    strengths    JSON,
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (unit_level, ward_code, category)
);
-- Home Office Asy_D11: asylum seekers in receipt of support by local authority.
CREATE TABLE dispersal (
    la_code       VARCHAR NOT NULL,
    la_name       VARCHAR,
    support_type  VARCHAR NOT NULL,
    period        DATE NOT NULL,
    people        INTEGER NOT NULL CHECK (people >= 0),
    source        VARCHAR,
    ingest_id     INTEGER NOT NULL REFERENCES ingests (ingest_id),
    PRIMARY KEY (la_code, support_type, period)
);
