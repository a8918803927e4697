-- relations.sql: the relations (tables, views, sequences, indexes) a migration names, as
-- written, resolved with to_regclass under the search_path (never waits on a lock).
-- Parameter: names (text[]). Returns one row per name: name, oid (NULL when missing), relkind,
-- qualified (schema.name), schema_name, rel_name, columns (a JSON array of objects with
-- name, type_oid and type, in order),
-- constraints (text[]: constraint names), index_table (for an index: its table, qualified),
-- index_columns (text[]: an index's key columns, NULL for an expression), elsewhere (text[]:
-- for a missing name, schemas holding a relation of that name). PostgreSQL 9.4+.
SELECT q.name, c.oid::bigint AS oid, c.relkind::text AS relkind,
       CASE WHEN c.oid IS NOT NULL THEN format('%%I.%%I', n.nspname, c.relname) END AS qualified,
       n.nspname::text AS schema_name, c.relname::text AS rel_name,
       COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'type_oid', a.atttypid::bigint,
                                                   'type', format_type(a.atttypid, a.atttypmod))
                                 ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::json)
           AS columns,
       ARRAY(SELECT co.conname::text FROM pg_constraint co WHERE co.conrelid = c.oid
             ORDER BY 1) AS constraints,
       (SELECT format('%%I.%%I', tn.nspname, t.relname)
        FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE x.indexrelid = c.oid) AS index_table,
       (SELECT CASE WHEN 0 = ANY(x.indkey::int2[]) THEN NULL ELSE
                   ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
                         WHERE k.o <= x.indnkeyatts ORDER BY k.o) END
        FROM pg_index x WHERE x.indexrelid = c.oid) AS index_columns,
       CASE WHEN c.oid IS NULL AND strpos(q.name, '.') = 0 THEN
           ARRAY(SELECT DISTINCT n2.nspname::text FROM pg_class c2 JOIN pg_namespace n2
                     ON n2.oid = c2.relnamespace
                 WHERE c2.relname = q.name ORDER BY 1) END AS elsewhere
FROM unnest(%(names)s::text[]) AS q(name)
LEFT JOIN pg_class c ON c.oid = to_regclass(q.name)
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
