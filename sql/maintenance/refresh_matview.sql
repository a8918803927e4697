-- refresh_matview.sql: REFRESH MATERIALIZED VIEW, plain or CONCURRENTLY, of one view (a template:
-- the keyword and the view's name are composed with psycopg.sql). Any PostgreSQL 9.4+. Plain:
-- ACCESS EXCLUSIVE on the view (readers wait). CONCURRENTLY: EXCLUSIVE (readers continue); needs a
-- unique index and a populated view, and cannot run in a transaction block.
REFRESH MATERIALIZED VIEW {concurrently} {view}
