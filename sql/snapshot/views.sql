-- views.sql: user views and materialized views (kind v or m), owner, whether a materialized
-- view is populated, the definition and its md5 (older manifests carry only the md5; a
-- restored copy's view is compared by meaning from the definition). Sorted by schema, name.
-- PostgreSQL 9.3+. pg_get_viewdef reads the catalog only: takes no relation lock.
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       pg_get_userbyid(c.relowner) AS owner,
       CASE WHEN c.relkind = 'm' THEN c.relispopulated END AS populated,
       md5(pg_get_viewdef(c.oid)) AS definition_md5,
       pg_get_viewdef(c.oid) AS definition
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
