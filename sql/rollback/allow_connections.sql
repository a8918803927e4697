-- allow_connections.sql: {name} accepts new connections or not ({allow}: true or false). Only
-- new connections are affected; existing ones stay. Needs the owner or a superuser.
-- PostgreSQL 9.5+. Locks the pg_database row (ROW EXCLUSIVE on pg_database).
ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}
