-- database_settings.sql: the current database's identity and creation settings (a restore
-- recreates the database with the same encoding and locale), and whether this role may read
-- the cluster's system identifier. One row. PostgreSQL 10+. Takes no lock.
SELECT current_database() AS database,
       pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate AS collate,
       d.datctype AS ctype,
       current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       has_function_privilege('pg_control_system()', 'EXECUTE') AS can_read_system_id
FROM pg_database d WHERE d.datname = current_database()
