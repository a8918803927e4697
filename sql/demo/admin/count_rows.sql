-- count_rows.sql: one table's name and exact row count, one arm of the demo's UNION ALL. A
-- template: the name (a literal) and the table (an identifier) come from psycopg.sql. Reads
-- the whole table; takes ACCESS SHARE on it.
SELECT {name}, count(*) FROM {table}
