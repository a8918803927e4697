-- sequences_usage.sql: how far each user sequence has gone towards its limit (fraction of the
-- range used, in the direction it counts), and the narrowest integer column it feeds (a bigint
-- sequence feeding an integer column runs out at 2^31-1). NULL last_value: never used.
-- PostgreSQL 10+ (pg_sequences). Takes no relation lock.
SELECT s.schemaname AS schema, s.sequencename AS name, s.data_type::text AS data_type,
       s.last_value, s.min_value, s.max_value, s.increment_by,
       col.column_type,
       CASE
         WHEN s.last_value IS NULL THEN 0::float8
         WHEN s.increment_by > 0 THEN
           (s.last_value::numeric - s.min_value + 1)
           / NULLIF(LEAST(s.max_value::numeric,
                          CASE col.column_type WHEN 'integer' THEN 2147483647
                                               WHEN 'smallint' THEN 32767
                                               ELSE s.max_value::numeric END)
                    - s.min_value + 1, 0)
         ELSE (s.max_value::numeric - s.last_value + 1)
              / NULLIF(s.max_value::numeric - s.min_value + 1, 0)
       END::float8 AS used_fraction
FROM pg_sequences s
LEFT JOIN LATERAL (
    SELECT format_type(a.atttypid, a.atttypmod) AS column_type
    FROM pg_depend d
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass
      AND d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass
      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LIMIT 1
) col ON true
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
