-- signal_backend.sql: cancel (pg_cancel_backend) or terminate (pg_terminate_backend) one session
-- that blocks the migration, after the operator confirmed it. Parameters: pid, terminate (bool).
-- Returns one boolean, "signalled". Needs superuser or pg_signal_backend. PostgreSQL 9.6+.
SELECT CASE WHEN %(terminate)s THEN pg_terminate_backend(%(pid)s)
            ELSE pg_cancel_backend(%(pid)s) END AS signalled
