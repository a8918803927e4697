-- foreign_keys.sql: every foreign key on user tables: its table and columns, the referenced
-- table and columns, the delete and update rules spelled as SQL, and whether it is validated.
-- PostgreSQL 9.4+ (WITH ORDINALITY). Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, c.relname AS "table", co.conname AS name,
       ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.num
             ORDER BY k.ord)::text[] AS columns,
       rn.nspname AS ref_schema, rc.relname AS ref_table,
       ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.num
             ORDER BY k.ord)::text[] AS ref_columns,
       CASE co.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT'
            WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT'
       END AS on_delete,
       CASE co.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT'
            WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT'
       END AS on_update,
       co.convalidated AS validated
FROM pg_constraint co
JOIN pg_class c ON c.oid = co.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = co.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE co.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3
