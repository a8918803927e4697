-- database_exists.sql: whether a database named by the name parameter exists. One row. Any
-- PostgreSQL.
-- Takes no lock.
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s) AS exists
