-- capabilities.sql: who we are and what we may see, read once per connection.
-- Returns one row: server version, block size, role attributes (superuser, pg_monitor,
-- pg_read_all_stats, pg_signal_backend membership), our own backend pid.
-- PostgreSQL 12+. Takes no relation locks (catalog and settings reads only).
SELECT
    current_setting('server_version_num')::int AS server_version_num,
    current_setting('server_version') AS server_version,
    current_setting('block_size')::int AS block_size,
    current_database() AS database,
    current_user AS role,
    r.rolsuper AS superuser,
    r.rolbypassrls AS bypassrls,
    pg_has_role(current_user, 'pg_monitor', 'USAGE') AS pg_monitor,
    pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS pg_read_all_stats,
    pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS pg_signal_backend,
    pg_backend_pid() AS backend_pid,
    pg_is_in_recovery() AS in_recovery
FROM pg_roles r
WHERE r.rolname = current_user
