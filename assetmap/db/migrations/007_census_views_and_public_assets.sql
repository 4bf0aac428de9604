-- assetmap schema version 7: applied in one transaction; never edit once shipped
-- The rules every read shares, kept here so that the CLI, the dashboard and the analysis
-- cannot drift apart. Census: the latest vintage of each variable in each area.
CREATE VIEW census_latest AS
    SELECT variable, area_code, category, count, vintage, source FROM population
    QUALIFY vintage = max(vintage) OVER (PARTITION BY variable, area_code);
-- One variable's latest counts in the output areas under one unit (``lvl``, ``unit``),
-- filtered before the latest-vintage window so a ward reads its own OAs only. Shares
-- are of the residents whose category the table lists: the 'unlisted' remainder
-- (counted in a row's total but in no category column) is left out of both sides, as
-- the gap's need components do.
CREATE MACRO census_in(var, lvl, unit) AS TABLE
    SELECT p.area_code, p.category, p.count, p.vintage FROM population p
    WHERE p.variable = var AND p.category <> 'unlisted'
      AND p.area_code IN (SELECT area_code FROM area_lookup
                          WHERE parent_level = lvl AND parent_code = unit)
    QUALIFY p.vintage = max(p.vintage) OVER (PARTITION BY p.area_code);
-- An asset's supply: its capacity where recorded, else 1.
CREATE VIEW asset_supply AS
    SELECT asset_id, category, subtype, oa_code, ward_code, sensitive, geom,
           coalesce(TRY_CAST(json_extract_string(attrs, '$.capacity') AS DOUBLE), 1.0) AS capacity
    FROM assets;
-- What the public may see of a site: not a sensitive one (those are counted per ward).
CREATE VIEW public_assets AS SELECT * FROM assets WHERE NOT sensitive;
