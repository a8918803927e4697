-- tables.sql: every user table (plain and partitioned, all schemas but the system ones, not
-- extension members), its owner, persistence and row-level security, and whether RLS could
-- hide rows from the connected role (RLS on, and the role is neither superuser nor BYPASSRLS,
-- nor the owner unless FORCE ROW LEVEL SECURITY; the one column that depends on the connected
-- role: compare inventories taken by the same role). Sorted by schema, name.
-- PostgreSQL 10+ (relkind 'p', rolbypassrls). Catalog reads only: takes no relation lock.
SELECT
    n.nspname AS schema,
    c.relname AS name,
    pg_get_userbyid(c.relowner) AS owner,
    c.relkind::text AS kind,
    c.relpersistence::text AS persistence,
    c.relrowsecurity AS rls_enabled,
    c.relforcerowsecurity AS rls_forced,
    (c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls)
        AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE')))
        AS rls_could_hide_rows
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN (SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user) r
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
