-- capabilities.sql: who we are and what we may see, read once per connection.
-- Returns one row: server version, block size, role attributes (superuser, pg_monitor,
-- pg_read_all_stats, pg_signal_backend membership), our own backend pid, and the
-- pg_stat_progress_* views this server has (they came one by one: vacuum 9.6, create_index and
-- cluster 12, analyze 13, copy 14), all in one round trip: it runs before the first data.
-- PostgreSQL 12+. Takes no relation locks (catalog and settings reads only). Run without
-- parameters (its LIKE pattern is taken as written).
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
    pg_is_in_recovery() AS in_recovery,
    ARRAY(SELECT c.relname::text
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'pg_catalog' AND c.relname LIKE 'pg_stat_progress_%'
          ORDER BY 1) AS progress_views
FROM pg_roles r
WHERE r.rolname = current_user
