-- allow_connections.sql: a database accepts new connections or not (a template: its name and
-- true or false are composed with psycopg.sql). Only
-- new connections are affected; existing ones stay. Needs the owner or a superuser.
-- PostgreSQL 9.5+. Locks the pg_database row (ROW EXCLUSIVE on pg_database).
ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}
