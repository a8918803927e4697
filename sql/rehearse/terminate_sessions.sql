-- terminate_sessions.sql: end every other session on a database (parameter database), before
-- dropping it on a server older than PostgreSQL 13 (no WITH (FORCE)). One row per session.
-- Only used on the rehearsal's own scratch database.
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = %(database)s AND pid <> pg_backend_pid()
