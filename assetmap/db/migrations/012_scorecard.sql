-- assetmap schema version 12: applied in one transaction; never edit once shipped
-- Race equality scorecard indicators (a local race disparity audit): per local authority,
-- domain, indicator, group and year, the group's value beside its reference group's.
CREATE TABLE scorecard_indicators (
    la_code          VARCHAR NOT NULL,
    domain           VARCHAR NOT NULL,
    indicator        VARCHAR NOT NULL,
    grp              VARCHAR NOT NULL,
    value            DOUBLE NOT NULL,
    reference_group  VARCHAR NOT NULL,
    reference_value  DOUBLE NOT NULL CHECK (reference_value > 0),
    year             INTEGER NOT NULL,
    source           VARCHAR NOT NULL,
    lower            DOUBLE,
    upper            DOUBLE,
    ingest_id        INTEGER NOT NULL,
    PRIMARY KEY (la_code, domain, indicator, grp, year)
);
