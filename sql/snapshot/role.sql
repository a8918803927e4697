-- role.sql: who is counting: the connected role, the attributes that decide whether row-level
-- security can hide rows from it, and how many user tables it does not own (an owner bypasses
-- RLS unless the table FORCEs it). One row. PostgreSQL 9.5+. Catalog reads only: no lock.
SELECT current_user AS role, session_user AS session_role, r.rolsuper AS is_superuser,
       r.rolbypassrls AS bypassrls, r.rolcreatedb AS createdb,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\_toast%'
          AND n.nspname NOT LIKE 'pg\_temp\_%'
          AND NOT pg_has_role(current_user, c.relowner, 'USAGE'))::int AS tables_not_owned
FROM pg_roles r WHERE r.rolname = current_user
