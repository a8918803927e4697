-- column_exists.sql: whether a column exists on a table (parameters schema, table, column). One
-- row.
-- PostgreSQL 9.x+. Catalog reads only: takes no lock.
SELECT EXISTS (
    SELECT 1 FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relname = %(table)s AND a.attname = %(column)s
      AND a.attnum > 0 AND NOT a.attisdropped
) AS present
