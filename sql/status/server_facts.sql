-- server_facts.sql: who and where we are, for the target banner and `nchat-tui status`.
-- Returns one row. PostgreSQL 12+. Takes no relation locks (catalog and settings reads only).
SELECT
    current_setting('server_version') AS server_version,
    current_setting('server_version_num')::int AS server_version_num,
    current_database() AS database,
    current_user AS "user",
    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS is_superuser,
    pg_database_size(current_database()) AS database_size,
    -- pg_settings hides superuser-only settings from a role without pg_read_all_settings
    -- (NULL here) where current_setting() would raise
    (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries')
        AS shared_preload_libraries,
    (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss_installed,
    (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements')
        AS pgss_default,
    pg_is_in_recovery() AS in_recovery,
    inet_server_addr()::text AS server_addr,
    now() AS server_now
