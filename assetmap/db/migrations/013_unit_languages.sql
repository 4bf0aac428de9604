-- assetmap schema version 13: applied in one transaction; never edit once shipped
-- Language match per unit: the residents of each main language other than English or Welsh
-- (census main_language), and how many of them live within reach of an ESOL or
-- refugee-support provider working in it. language_gap = 1 - covered / speakers.
CREATE TABLE unit_languages (
    unit_level    VARCHAR NOT NULL,
    unit_code     VARCHAR NOT NULL,
    language      VARCHAR NOT NULL,
    speakers      DOUBLE NOT NULL,
    share         DOUBLE,
    covered       DOUBLE NOT NULL,
    language_gap  DOUBLE NOT NULL,
    providers     INTEGER NOT NULL,
    rank          INTEGER NOT NULL,
    basis         VARCHAR NOT NULL,
    computed_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (unit_level, unit_code, language)
);
