-- server_version_num.sql: the server's version as a number (150004). One row. Takes no lock.
SELECT current_setting('server_version_num')::int
