-- idle_writers.sql: sessions idle in a transaction that has written (holds a transaction id):
-- their rows are invisible to everyone else until they commit, and lost if they roll back.
-- Returns pid, user, application, client, seconds idle, transaction age, the last query, and
-- the tables it holds write locks on (RowExclusiveLock or stronger).
-- PostgreSQL 12+. Reads pg_stat_activity and pg_locks; no relation locks.
SELECT a.pid, a.usename AS "user", a.application_name AS application,
       host(a.client_addr) AS client_addr,
       extract(epoch FROM now() - a.state_change)::float8 AS idle_s,
       extract(epoch FROM now() - a.xact_start)::float8 AS xact_age_s,
       left(a.query, 200) AS last_query,
       (SELECT array_agg(DISTINCT l.relation::regclass::text)
          FROM pg_locks l
         WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                          'AccessExclusiveLock')) AS written_tables
FROM pg_stat_activity a
WHERE a.state LIKE 'idle in transaction%%'
  AND a.backend_xid IS NOT NULL
  AND a.datname = current_database()
  AND a.pid <> pg_backend_pid()
ORDER BY a.xact_start
