-- enums.sql: user enum types and their labels in sort order (ALTER TYPE ... ADD VALUE shows up
-- here). Sorted by schema, type. PostgreSQL 9.1+. Takes no lock.
SELECT n.nspname AS schema, t.typname AS name,
       array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type t
JOIN pg_enum e ON e.enumtypid = t.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
GROUP BY 1, 2
ORDER BY 1, 2
