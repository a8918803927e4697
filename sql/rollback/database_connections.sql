-- database_connections.sql: every session connected to database %(name)s except this one:
-- pid, role, application, client address, state, since when. Run from the maintenance
-- database. PostgreSQL 10+ (backend_type). Statistics views only: takes no lock.
SELECT pid, usename AS role, application_name, client_addr::text AS client_addr, state,
       backend_start, xact_start, left(query, 200) AS query
FROM pg_stat_activity
WHERE datname = %(name)s AND pid <> pg_backend_pid()
ORDER BY backend_start
