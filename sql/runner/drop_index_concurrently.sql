-- drop_index_concurrently.sql: drop an invalid index a failed CREATE INDEX CONCURRENTLY left
-- behind. A template: the index name comes already quoted from the catalog (format with the
-- I conversion, schema and name) as psycopg.sql.SQL. Cannot run in a transaction block; takes
-- SHARE UPDATE EXCLUSIVE on the table (reads and writes go on).
DROP INDEX CONCURRENTLY IF EXISTS {index}
