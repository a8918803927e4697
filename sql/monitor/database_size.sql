-- database_size.sql: the size of this database in bytes, from pg_database_size().
-- Returns one row. It takes no relation lock, but stats every file of the database (about
-- 190 ms with 10,000 tables), so the monitor runs it between samples (Monitor.refresh_size),
-- at most every 30 s by default, and inside a sample only while no size is known. PostgreSQL 12+.
SELECT pg_database_size(current_database()) AS database_size, now() AS measured_at
