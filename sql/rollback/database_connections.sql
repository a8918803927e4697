-- database_connections.sql: every session connected to database name (a parameter) except this one:
-- pid, role, application, client address, state, since when (not the query text: it may hold
-- a secret, and this list is journaled). Run from the maintenance database.
-- PostgreSQL 9.6+. Statistics views only: takes no lock.
SELECT pid, usename AS role, application_name, client_addr::text AS client_addr, state,
       backend_start, xact_start
FROM pg_stat_activity
WHERE datname = %(name)s AND pid <> pg_backend_pid()
ORDER BY backend_start
