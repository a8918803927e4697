-- constraints.sql: every constraint on user tables and domains: type (p u f c x t), definition,
-- whether it is validated (NOT VALID constraints are convalidated = false). Sorted by schema,
-- owning table or domain, name. PostgreSQL 9.x+. Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema,
       COALESCE(c.relname, t.typname) AS owner_object,
       CASE WHEN co.conrelid <> 0 THEN 'table' ELSE 'domain' END AS on_kind,
       co.conname AS name, co.contype::text AS type,
       pg_get_constraintdef(co.oid) AS definition,
       co.convalidated AS validated,
       co.condeferrable AS deferrable
FROM pg_constraint co
JOIN pg_namespace n ON n.oid = co.connamespace
LEFT JOIN pg_class c ON c.oid = co.conrelid
LEFT JOIN pg_type t ON t.oid = co.contypid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = co.conrelid
                    AND d.deptype = 'e')
ORDER BY 1, 2, 4
