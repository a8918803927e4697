-- database_exists.sql: a row when a database of this name exists (parameter name), none
-- otherwise. Catalog reads only: no lock.
SELECT 1 FROM pg_database WHERE datname = %(name)s
