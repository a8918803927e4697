-- pg_activity-like blocking query (after its documented behaviour): sessions holding a lock
-- that another session waits for, found by joining pg_locks to itself on the lock target.
-- No relation locks.
SELECT DISTINCT h.pid, a.datname AS database, a.application_name AS appname,
       a.usename AS "user", h.relation::regclass::text AS relation, h.mode, h.locktype,
       extract(epoch FROM now() - a.query_start) AS duration, a.state, a.query
FROM pg_locks h
JOIN pg_locks w ON w.granted = false AND h.granted = true AND h.pid <> w.pid
     AND h.locktype = w.locktype
     AND h.database IS NOT DISTINCT FROM w.database
     AND h.relation IS NOT DISTINCT FROM w.relation
     AND h.page IS NOT DISTINCT FROM w.page AND h.tuple IS NOT DISTINCT FROM w.tuple
     AND h.transactionid IS NOT DISTINCT FROM w.transactionid
     AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid
     AND h.objsubid IS NOT DISTINCT FROM w.objsubid
JOIN pg_stat_activity a ON a.pid = h.pid
