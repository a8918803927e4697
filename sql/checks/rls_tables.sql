-- rls_tables.sql: tables with row-level security, and whether it filters the current role.
-- Returns schema, table, owner, forced, and filtered (true when the current role is not
-- exempt: not a superuser, no BYPASSRLS, not the owner, or the owner under FORCE).
-- PostgreSQL 12+. Catalog reads only, no relation locks.
SELECT n.nspname AS schema, c.relname AS "table", pg_get_userbyid(c.relowner) AS owner,
       c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       NOT (r.rolsuper OR r.rolbypassrls
            OR (pg_has_role(current_user, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity))
           AS filtered
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_roles r ON r.rolname = current_user
WHERE c.relrowsecurity AND c.relkind IN ('r', 'p')
ORDER BY n.nspname, c.relname
