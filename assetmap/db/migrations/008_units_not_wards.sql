-- assetmap schema version 8: applied in one transaction; never edit once shipped
-- Names that say what they hold: the analysis tables hold units of any level (ward, MSOA,
-- LSOA, LA), keyed by unit_code; so do a partner's published indices.
ALTER TABLE ward_indices RENAME COLUMN ward_code TO unit_code;
ALTER TABLE ward_indices RENAME TO unit_indices;
ALTER TABLE ward_access RENAME COLUMN ward_code TO unit_code;
ALTER TABLE ward_access RENAME TO unit_access;
ALTER TABLE ward_need RENAME COLUMN ward_code TO unit_code;
ALTER TABLE ward_need RENAME TO unit_need;
ALTER TABLE ward_gaps RENAME COLUMN ward_code TO unit_code;
ALTER TABLE ward_gaps RENAME TO unit_gaps;
ALTER TABLE partner_indices RENAME COLUMN ward_code TO unit_code;
