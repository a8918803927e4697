-- count_rows.sql: the exact row count of one table (a template: the table is filled in as
-- an identifier). Returns one row: n. Takes ACCESS SHARE on the table; rows hidden by row-level
-- security are not counted unless the role owns the table, is a superuser or has BYPASSRLS.
-- PostgreSQL 12+.
SELECT count(*) AS n FROM {table}
