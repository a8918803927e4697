-- long_transactions.sql: other sessions in this database whose transaction is older than
-- min_age_s seconds, a parameter (they do not block pg_dump, but they hold back vacuum and
-- will block the migration's DDL that follows the backup). PostgreSQL 10+ (backend_type).
-- Takes no lock.
SELECT a.pid, a.usename AS "user", a.application_name, a.state,
       EXTRACT(EPOCH FROM now() - a.xact_start)::float8 AS xact_age_s,
       left(a.query, 200) AS query
FROM pg_stat_activity a
WHERE a.datname = current_database()
  AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend'
  AND a.xact_start < now() - make_interval(secs => %(min_age_s)s)
ORDER BY a.xact_start
