-- try_lock.sql: take the migration lock without waiting: the session-level advisory lock on
-- hashtext('nself:migrations'), the key the nself CLI uses. Returns one boolean, "locked".
-- Run on a dedicated autocommit connection that stays idle for the whole run, polled from the
-- client: a blocking pg_advisory_lock in a second runner could deadlock a CREATE INDEX
-- CONCURRENTLY in the first. PostgreSQL 8.2+. Takes only the advisory lock.
SELECT pg_try_advisory_lock(hashtext('nself:migrations')) AS locked
