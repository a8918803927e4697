-- count_rows.sql: the exact row count of one table, as the connected role sees it (row-level
-- security applies). A template: the table is filled in with psycopg.sql.Identifier(schema, name).
-- Any PostgreSQL. Takes ACCESS SHARE on the table (a sequential or index-only scan).
SELECT count(*) FROM {table}
