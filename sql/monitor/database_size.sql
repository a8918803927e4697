-- database_size.sql: the size of this database in bytes, from pg_database_size().
-- Returns one row. It takes no relation lock, but stats every file of the database (about
-- 190 ms with 10,000 tables), so the monitor calls it once per sample at most and, by
-- default, at most every 30 s. PostgreSQL 12+.
SELECT pg_database_size(current_database()) AS database_size, now() AS measured_at
