-- unlock.sql: release the migration lock taken by try_lock.sql (closing the session does too).
-- Returns one boolean. PostgreSQL 8.2+. Takes no lock.
SELECT pg_advisory_unlock(hashtext('nself:migrations')) AS unlocked
