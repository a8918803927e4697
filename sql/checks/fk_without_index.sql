-- fk_without_index.sql: foreign keys whose referencing columns are not the leading columns
-- of any valid index: deletes and updates on the referenced table scan the referencing one.
-- Returns schema, table, constraint, the columns and the referenced table.
-- PostgreSQL 12+. Catalog reads only, no relation locks.
SELECT n.nspname AS schema, c.relname AS "table", con.conname AS "constraint",
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
       con.confrelid::regclass::text AS referenced
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      WHERE i.indrelid = con.conrelid AND i.indisvalid
        AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
        AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey)
ORDER BY n.nspname, c.relname, con.conname
