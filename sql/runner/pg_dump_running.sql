-- pg_dump_running.sql: pg_dump sessions reading this database right now (a running pg_dump
-- holds ACCESS SHARE on every table it dumps: a migration would queue behind it or break it).
-- Recognised by application name (pg_dump's default) or by its COPY ... TO stdout reads.
-- Returns pid, application_name, client_addr, usename, xact_start, query.
-- PostgreSQL 10+. Reads pg_stat_activity only.
SELECT pid,
       application_name,
       host(client_addr) AS client_addr,
       usename::text AS usename,
       xact_start,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND (application_name ~* 'pg_dump'
       OR (state = 'active' AND query ~* '^\s*COPY\s.+\sTO\s+stdout'))
