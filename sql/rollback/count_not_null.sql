-- count_not_null.sql: rows of one table matching a predicate ("the column holds a value
-- other than its default"): the data a DROP COLUMN would lose. The caller composes both with
-- psycopg.sql. One row. PostgreSQL 9.4+ (FILTER). ACCESS SHARE on the table.
SELECT count(*) FILTER (WHERE {predicate}) AS with_value FROM {table}
