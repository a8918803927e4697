-- count_soft_deleted.sql: rows of one table in total and marked deleted (a template: the
-- caller fills the table and a predicate on one soft-delete column in with psycopg.sql).
-- Returns one row: total, deleted. Takes ACCESS SHARE on the table (a plain read).
-- PostgreSQL 12+.
SELECT count(*) AS total, count(*) FILTER (WHERE {deleted}) AS deleted FROM {table}
