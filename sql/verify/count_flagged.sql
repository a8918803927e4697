-- count_flagged.sql: how many rows of one table match a predicate (a soft-delete marker such as
-- "deleted_at IS NOT NULL"); the caller composes both with psycopg.sql. One row.
-- PostgreSQL 9.4+ (FILTER). Reads the whole table: ACCESS SHARE on it.
SELECT count(*) FILTER (WHERE {predicate}) AS flagged, count(*) AS total FROM {table}
