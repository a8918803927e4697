-- vacuum_analyze.sql: VACUUM (ANALYZE) of one table (a template: its name is composed with
-- psycopg.sql).
-- Cannot run in a transaction block. Any PostgreSQL. SHARE UPDATE EXCLUSIVE on the table:
-- reads and writes continue, DDL on the table waits.
VACUUM (ANALYZE) {table}
