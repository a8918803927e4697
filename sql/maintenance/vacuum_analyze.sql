-- vacuum_analyze.sql: VACUUM (ANALYZE) of one table ({table}, composed with psycopg.sql).
-- Cannot run in a transaction block. Any PostgreSQL. SHARE UPDATE EXCLUSIVE on the table:
-- reads and writes continue, DDL on the table waits.
VACUUM (ANALYZE) {table}
