-- assetmap schema version 1: applied in one transaction; never edit once shipped
CREATE TABLE ingests (
    ingest_id        INTEGER PRIMARY KEY,
    path             VARCHAR NOT NULL,
    sha256           VARCHAR NOT NULL,
    kind             VARCHAR,
    options          VARCHAR,
    rows_read        INTEGER NOT NULL DEFAULT 0,
    rows_accepted    INTEGER NOT NULL DEFAULT 0,
    rows_quarantined INTEGER NOT NULL DEFAULT 0,
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP,
    status           VARCHAR NOT NULL CHECK (status IN ('completed', 'refused')),
    message          VARCHAR,
    CHECK (rows_read = rows_accepted + rows_quarantined)
);
CREATE TABLE areas (
    code        VARCHAR PRIMARY KEY,
    name        VARCHAR,
    level       VARCHAR NOT NULL CHECK (level IN ('oa', 'lsoa', 'msoa', 'ward', 'la')),
    parent_code VARCHAR,
    vintage     VARCHAR,
    geom        GEOMETRY NOT NULL,
    source      VARCHAR,
    ingest_id   INTEGER
);
CREATE TABLE area_lookup (
    area_code    VARCHAR NOT NULL,
    parent_level VARCHAR NOT NULL CHECK (parent_level IN ('lsoa', 'msoa', 'ward', 'la')),
    parent_code  VARCHAR NOT NULL,
    method       VARCHAR NOT NULL CHECK (method IN ('file', 'best_fit')),
    ingest_id    INTEGER,
    PRIMARY KEY (area_code, parent_level)
);
CREATE TABLE population (
    area_code VARCHAR NOT NULL,
    variable  VARCHAR NOT NULL,
    category  VARCHAR NOT NULL,
    count     BIGINT NOT NULL CHECK (count >= 0),
    vintage   VARCHAR NOT NULL,
    source    VARCHAR,
    ingest_id INTEGER,
    PRIMARY KEY (area_code, variable, category, vintage)
);
CREATE TABLE postcodes (
    postcode  VARCHAR PRIMARY KEY,
    geom      GEOMETRY NOT NULL,
    ingest_id INTEGER
);
CREATE TABLE assets (
    asset_id         VARCHAR PRIMARY KEY,
    category         VARCHAR NOT NULL CHECK (category IN ('community_centre', 'place_of_worship', 'esol_provider', 'refugee_support')),
    subtype          VARCHAR,
    name             VARCHAR NOT NULL,
    name_key         VARCHAR NOT NULL,
    address          VARCHAR,
    postcode         VARCHAR,
    geom             GEOMETRY NOT NULL,
    attrs            JSON,
    sensitive        BOOLEAN NOT NULL DEFAULT false,
    source           VARCHAR NOT NULL,
    source_record_id VARCHAR,
    licence          VARCHAR,
    observed_at      TIMESTAMP,
    ingest_id        INTEGER NOT NULL,
    oa_code          VARCHAR,
    ward_code        VARCHAR
);
CREATE TABLE quarantine (
    ingest_id   INTEGER NOT NULL REFERENCES ingests (ingest_id),
    row_number  INTEGER NOT NULL,
    raw         VARCHAR,
    reason_code VARCHAR NOT NULL,
    message     VARCHAR NOT NULL,
    PRIMARY KEY (ingest_id, row_number)
);
CREATE TABLE events (
    event_id    VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    payload     JSON,
    occurred_at TIMESTAMP NOT NULL
);
