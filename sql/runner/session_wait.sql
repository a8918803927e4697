-- session_wait.sql: is one session (the runner's work connection) waiting on a lock, and who
-- blocks it. Parameter: pid. Returns pid, state, wait_event_type, wait_event, blocking (int[]:
-- pg_blocking_pids, only computed while the session waits on a lock: it briefly locks the lock
-- manager). PostgreSQL 9.6+. No relation lock.
SELECT pid, state, wait_event_type, wait_event,
       CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocking
FROM pg_stat_activity
WHERE pid = %(pid)s
