-- server_version.sql: the server's version string and number. One row. Takes no lock.
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num
