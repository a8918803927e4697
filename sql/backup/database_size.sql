-- database_size.sql: the current database's size in bytes and its server version.
-- One row. PostgreSQL 9.x+. pg_database_size walks the directory: takes no relation lock.
SELECT pg_database_size(current_database()) AS bytes,
       current_setting('server_version_num')::int AS server_version_num,
       current_setting('server_version') AS server_version,
       current_database() AS database
