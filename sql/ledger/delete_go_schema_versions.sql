-- delete_go_schema_versions.sql: forget one reverted file in np_common.schema_versions, so
-- `nself db migrate status` shows it pending again. Parameters: name. Returns nothing.
-- PostgreSQL 9.5+. Takes ROW EXCLUSIVE on np_common.schema_versions.
DELETE FROM np_common.schema_versions WHERE name = %(name)s
