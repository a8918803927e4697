-- refresh_matview.sql: REFRESH MATERIALIZED VIEW {concurrently} {view} (both composed with
-- psycopg.sql; {concurrently} is CONCURRENTLY or empty). Any PostgreSQL 9.4+. Plain: ACCESS
-- EXCLUSIVE on the view (readers wait). CONCURRENTLY: EXCLUSIVE (readers continue); needs a
-- unique index and a populated view, and cannot run in a transaction block.
REFRESH MATERIALIZED VIEW {concurrently} {view}
