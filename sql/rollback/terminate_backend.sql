-- terminate_backend.sql: end session pid if it is still connected to database name (parameters)
-- (the pid may have been reused by then). Returns whether a signal was sent. Needs superuser,
-- the session's role, or pg_signal_backend. Takes no lock.
SELECT pg_terminate_backend(pid) AS terminated
FROM pg_stat_activity
WHERE pid = %(pid)s AND datname = %(name)s
