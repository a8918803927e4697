-- delete_schema_migrations.sql: forget one reverted version in a schema_migrations ledger.
-- The version column may be numeric or text ('014'): compared by numeric value. The caller fills
-- the table (psycopg.sql.Identifier). Parameters: version. Returns nothing.
-- PostgreSQL 9.5+. Takes ROW EXCLUSIVE on the table.
DELETE FROM {table}
WHERE version::text ~ '^[0-9]+$' AND version::text::numeric = %(version)s::numeric
