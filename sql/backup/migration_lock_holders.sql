-- migration_lock_holders.sql: sessions holding or waiting for the nself CLI's migration advisory
-- lock, pg_advisory_lock(hashtext('nself:migrations')) (a bigint key: classid holds the high 32
-- bits, objid the low 32, objsubid 1). PostgreSQL 10+. Reads pg_locks (briefly takes the lock
-- manager's partition locks, no relation lock).
SELECT l.pid, l.granted, a.usename AS "user", a.application_name, a.state,
       EXTRACT(EPOCH FROM now() - a.xact_start)::float8 AS xact_age_s,
       left(a.query, 200) AS query
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext('nself:migrations')::bigint
ORDER BY l.granted DESC, l.pid
