-- counting_role.sql: the role counts run as, and whether it sees every row (a superuser, or
-- BYPASSRLS: row-level security cannot hide rows from it). One row. Catalog reads only.
SELECT current_user,
       (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user)
