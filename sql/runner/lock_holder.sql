-- lock_holder.sql: who holds the migration advisory lock (hashtext('nself:migrations')).
-- A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
-- Returns pid, application_name, client_addr, usename, backend_start, state, state_change,
-- query_start, query (first 200 characters). PostgreSQL 10+. Reads pg_locks and
-- pg_stat_activity: no relation lock.
WITH k AS (SELECT hashtext('nself:migrations')::bigint AS key)
SELECT a.pid,
       a.application_name,
       host(a.client_addr) AS client_addr,
       a.usename::text AS usename,
       a.backend_start,
       a.state,
       a.state_change,
       a.query_start,
       left(a.query, 200) AS query
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
CROSS JOIN k
WHERE l.locktype = 'advisory'
  AND l.granted
  AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = k.key
