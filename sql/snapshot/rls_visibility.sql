-- rls_visibility.sql: for every user table with row-level security enabled, whether the
-- connected role counts as its owner, and whether RLS could hide rows from this role (the role
-- is neither superuser nor BYPASSRLS, and not the owner, or the table FORCEs RLS). Sorted by
-- schema, name. PostgreSQL 9.5+ (rolbypassrls). Catalog reads only: takes no relation lock.
SELECT n.nspname AS schema, c.relname AS name,
       pg_has_role(current_user, c.relowner, 'USAGE') AS counted_by_owner,
       c.relforcerowsecurity AS rls_forced,
       (NOT (r.rolsuper OR r.rolbypassrls)
        AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE')))
        AS could_hide_rows
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN (SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user) r
WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2
