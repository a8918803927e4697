-- locks.sql: the lock-waiting sessions of the whole server and who blocks them, for the tree.
-- Returns one row per session that waits for a heavyweight lock: its pid, the pids that
-- block it (pg_blocking_pids: holders and sessions ahead of it in the queue), the lock it
-- asks for (mode, lock type, relation oid and, in this database, its name; the database it
-- belongs to), the wait event, how long it has waited (pg_locks.waitstart from PG14, read
-- through to_jsonb; older servers fall back to the state change time), and the modes each
-- blocker holds on that same lock target (blocker_modes: pid -> [mode, ...]; a parallel
-- worker's locks count for its leader, as pg_blocking_pids reports the leader).
-- A session that shows a Lock wait but has no ungranted lock and no blocker by the time
-- pg_locks is read got its lock in between, and is left out. Relation extension waits
-- (wait_event 'extend', outside pg_locks since PG13) keep a row with locktype 'extend'.
-- pg_blocking_pids() briefly locks the lock manager, so it runs once per sample and only on
-- waiting sessions (the MATERIALIZED CTE filters first); pg_locks is read once, and not at all
-- while nobody waits (a per-waiter read of it cost 25 ms a sample under pgbench -c 50).
-- PostgreSQL 12+. No relation locks.
WITH act AS MATERIALIZED (
    -- one read of pg_stat_activity: the waiters, and the parallel workers' leaders
    SELECT a.pid, a.state_change, a.query_start, a.wait_event, a.wait_event_type,
           CASE WHEN a.backend_type = 'parallel worker'
                THEN (to_jsonb(a) ->> 'leader_pid')::int END AS leader
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock' OR a.backend_type = 'parallel worker'
), waiting AS MATERIALIZED (
    SELECT a.pid, a.state_change, a.query_start, a.wait_event
    FROM act a
    WHERE a.wait_event_type = 'Lock'
), locks AS MATERIALIZED (
    -- pg_locks once (it copies the whole lock table), and only when someone waits
    SELECT x.* FROM pg_locks x WHERE EXISTS (SELECT 1 FROM waiting)
), blocked AS MATERIALIZED (
    SELECT w.pid, pg_blocking_pids(w.pid) AS blocked_by, w.state_change, w.query_start,
           w.wait_event
    FROM waiting w
), leaders AS MATERIALIZED (
    SELECT a.pid, a.leader FROM act a WHERE a.leader IS NOT NULL
), wanted AS MATERIALIZED (
    SELECT DISTINCT ON (x.pid) x.*
    FROM locks x
    WHERE NOT x.granted AND x.pid IN (SELECT w.pid FROM waiting w)
    ORDER BY x.pid
), holders AS MATERIALIZED (
    SELECT coalesce(ld.leader, x.pid) AS pid, x.mode, x.locktype, x.database, x.relation,
           x.transactionid, x.virtualxid, x.classid, x.objid, x.objsubid, x.page, x.tuple
    FROM locks x
    LEFT JOIN leaders ld ON ld.pid = x.pid
    WHERE x.granted
      AND coalesce(ld.leader, x.pid) IN (SELECT unnest(b.blocked_by) FROM blocked b)
)
SELECT
    b.pid,
    b.blocked_by,
    l.mode,
    coalesce(l.locktype, CASE WHEN b.wait_event = 'extend' THEN 'extend' END) AS locktype,
    b.wait_event,
    l.relation::bigint AS relation_oid,
    d.datname AS relation_database,
    CASE WHEN l.relation IS NULL THEN NULL
         WHEN l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             OR l.database = 0
             THEN l.relation::regclass::text END AS relation,
    extract(epoch FROM now() - coalesce((to_jsonb(l) ->> 'waitstart')::timestamptz,
                                        b.state_change, b.query_start))::float8 AS wait_s,
    (SELECT jsonb_object_agg(h.pid::text, h.modes)
       FROM (SELECT x.pid, array_agg(DISTINCT x.mode ORDER BY x.mode) AS modes
               FROM holders x
              WHERE x.pid = ANY(b.blocked_by)
                AND x.locktype = l.locktype
                AND x.database IS NOT DISTINCT FROM l.database
                AND x.relation IS NOT DISTINCT FROM l.relation
                AND x.transactionid IS NOT DISTINCT FROM l.transactionid
                AND x.classid IS NOT DISTINCT FROM l.classid
                AND x.objid IS NOT DISTINCT FROM l.objid
                AND x.objsubid IS NOT DISTINCT FROM l.objsubid
                AND (l.locktype <> 'virtualxid' OR x.virtualxid = l.virtualxid)
                AND (l.locktype NOT IN ('page', 'tuple')
                     OR (x.page IS NOT DISTINCT FROM l.page
                         AND x.tuple IS NOT DISTINCT FROM l.tuple))
              GROUP BY x.pid) h) AS blocker_modes
FROM blocked b
LEFT JOIN wanted l ON l.pid = b.pid
LEFT JOIN pg_database d ON d.oid = l.database
WHERE l.pid IS NOT NULL OR cardinality(b.blocked_by) > 0 OR b.wait_event = 'extend'
ORDER BY wait_s DESC NULLS LAST, b.pid
