-- assetmap schema version 15: applied in one transaction; never edit once shipped
-- Timetables (assetmap.transit): the stops of a GTFS feed in and around the study area,
-- EPSG:27700, each with its mode ('bus', 'rail', 'metro', 'tram', 'ferry', from the
-- routes calling there); and per stop, route and direction the departures in the PTAL
-- morning peak (08:15-09:15) of one service date. One feed per store; a new feed
-- replaces it. transit_info says where it came from and what it counted.
CREATE TABLE transit_stops (
    stop_id     VARCHAR PRIMARY KEY,
    name        VARCHAR,
    mode        VARCHAR NOT NULL,
    x           DOUBLE NOT NULL,
    y           DOUBLE NOT NULL,
    departures  INTEGER NOT NULL   -- all departures of the service date
);
CREATE TABLE transit_departures (
    stop_id       VARCHAR NOT NULL,
    route_id      VARCHAR NOT NULL,
    route_name    VARCHAR,
    mode          VARCHAR NOT NULL,
    direction_id  INTEGER NOT NULL,  -- -1 where the feed gives none
    departures    INTEGER NOT NULL CHECK (departures > 0),
    PRIMARY KEY (stop_id, route_id, direction_id)
);
CREATE TABLE transit_info (
    ingest_id      INTEGER PRIMARY KEY,
    source         VARCHAR NOT NULL,
    sha256         VARCHAR NOT NULL,
    service_date   DATE NOT NULL,
    date_chosen    VARCHAR NOT NULL,   -- 'given' (--service-date) or 'busiest weekday'
    peak_start     VARCHAR NOT NULL,
    peak_end       VARCHAR NOT NULL,
    agencies       INTEGER NOT NULL,
    routes         INTEGER NOT NULL,
    trips          INTEGER NOT NULL,
    trips_on_date  INTEGER NOT NULL,
    stop_times     INTEGER NOT NULL,
    stops_in_feed  INTEGER NOT NULL,
    stops_kept     INTEGER NOT NULL,
    peak_calls     INTEGER NOT NULL,
    note           VARCHAR NOT NULL,
    loaded_at      TIMESTAMP NOT NULL
);
-- One bus (or train) from a stop to a later one, for the option that counts providers a
-- short walk and one bus away on the supply side (settings.supply_by_bus): per route and
-- pair of stops, the quickest ride among the peak's trips that call at both (ride_min,
-- at most settings.bus_ride_max_min), and how many of them there are (departures).
CREATE TABLE transit_links (
    route_id    VARCHAR NOT NULL,
    from_stop   VARCHAR NOT NULL,
    to_stop     VARCHAR NOT NULL,
    ride_min    DOUBLE NOT NULL CHECK (ride_min >= 0),
    departures  INTEGER NOT NULL CHECK (departures > 0),
    PRIMARY KEY (route_id, from_stop, to_stop)
);
-- Whether a unit's supply counted providers a short walk and one bus away (the option).
ALTER TABLE unit_access ADD COLUMN supply_by_bus BOOLEAN DEFAULT false;
-- PTAL (Transport for London's method) per output area: the access index and its band,
-- how the walks to stops were measured ('network', 'crow_flies', or 'outside' the walking
-- network: no figure), and each route's part in it (oa_ptal_routes: the route's nearest
-- stop by total access time, the walk, its peak frequency and the weighted EDF it adds).
CREATE TABLE oa_ptal (
    oa_code      VARCHAR PRIMARY KEY,
    ptal_ai      DOUBLE,
    ptal_band    VARCHAR,
    walk_mode    VARCHAR NOT NULL,
    routes       INTEGER NOT NULL,
    computed_at  TIMESTAMP NOT NULL
);
CREATE TABLE oa_ptal_routes (
    oa_code      VARCHAR NOT NULL,
    route_id     VARCHAR NOT NULL,
    route_name   VARCHAR,
    mode         VARCHAR NOT NULL,
    stop_id      VARCHAR NOT NULL,
    walk_m       DOUBLE NOT NULL,
    frequency    INTEGER NOT NULL,
    tat_min      DOUBLE NOT NULL,
    edf          DOUBLE NOT NULL,
    weight       DOUBLE NOT NULL,
    PRIMARY KEY (oa_code, route_id)
);
-- Units (every level the lookups give): the resident-weighted mean index of their OAs
-- that have a figure, and the band of that mean.
CREATE TABLE unit_ptal (
    unit_level   VARCHAR NOT NULL,
    unit_code    VARCHAR NOT NULL,
    ptal_ai      DOUBLE,
    ptal_band    VARCHAR,
    oas          INTEGER NOT NULL,
    residents    DOUBLE NOT NULL,
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (unit_level, unit_code)
);
