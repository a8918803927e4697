-- sessions_by_application.sql: server sessions whose application_name is the given one (the
-- restore swap's own connection), other than this one: after the swap's client was killed,
-- its backend may still be rolling the swap's transaction back. The name is a bound parameter.
-- PostgreSQL 9.6+. Statistics views only: takes no lock.
SELECT pid, state, xact_start
FROM pg_stat_activity
WHERE application_name = %(application_name)s AND pid <> pg_backend_pid()
