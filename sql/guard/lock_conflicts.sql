-- lock_conflicts.sql: relation locks of other sessions in this database that a request of
-- some mode waits for: granted ones (the holders) and pending ones (the queue a newcomer joins
-- behind), for the message of a lock wait that ran out. Parameters: modes (text[], the modes
-- that conflict with the one asked for), schema and name (one relation, or NULL for any).
-- Returns pid, mode, granted, schema, relation, relkind, user, application, state,
-- xact_age_s, query (200 characters). PostgreSQL 10+. Reads pg_locks and the catalog: takes
-- no relation lock, so it answers while the lock is held.
SELECT l.pid, l.mode, l.granted, n.nspname AS schema, c.relname AS relation,
       c.relkind::text AS relkind, a.usename AS "user", a.application_name AS application,
       a.state,
       extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::float8
           AS xact_age_s,
       left(a.query, 200) AS query
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
  AND l.mode = ANY (%(modes)s::text[])
  AND (%(schema)s::text IS NULL OR (n.nspname = %(schema)s AND c.relname = %(name)s))
ORDER BY l.granted DESC, a.xact_start NULLS LAST, l.pid
LIMIT 20
