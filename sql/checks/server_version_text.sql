-- server_version_text.sql: the server's full version line (what login shows). One row. No lock.
SELECT version()
