-- create_database_plain.sql: create an empty database from template0 with the server's default
-- encoding and locale (a backup whose manifest does not record the source's). A template: the
-- name is filled in as a psycopg.sql.Identifier. Any PostgreSQL 9.x+.
-- Cannot run in a transaction block; briefly locks template0.
CREATE DATABASE {name} TEMPLATE template0
