-- nchat_tables_present.sql: whether this database already holds nChat's tables. One row.
-- Catalog reads only: no lock.
SELECT to_regclass('public.nchat_messages') IS NOT NULL
