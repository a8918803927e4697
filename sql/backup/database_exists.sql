-- database_exists.sql: whether a database named %(name)s exists. One row. Any PostgreSQL.
-- Takes no lock.
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s) AS exists
