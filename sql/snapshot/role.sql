-- role.sql: who is counting: the connected role and the attributes that decide whether
-- row-level security can hide rows from it. One row. PostgreSQL 9.5+. Takes no lock.
SELECT current_user AS role, session_user AS session_role, r.rolsuper AS is_superuser,
       r.rolbypassrls AS bypassrls, r.rolcreatedb AS createdb
FROM pg_roles r WHERE r.rolname = current_user
