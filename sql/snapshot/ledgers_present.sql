-- ledgers_present.sql: which of the three migration ledgers exist here (nself Go CLI:
-- np_common.schema_versions and nself_ops.migrations; nself Bash CLI and the guides:
-- public.schema_migrations). One row of booleans. PostgreSQL 9.4+. Takes no lock.
SELECT to_regclass('np_common.schema_versions') IS NOT NULL AS np_common_schema_versions,
       to_regclass('nself_ops.migrations') IS NOT NULL AS nself_ops_migrations,
       to_regclass('public.schema_migrations') IS NOT NULL AS public_schema_migrations
