-- table_stats.sql: cumulative write counters of every user table (rows inserted, updated,
-- deleted since the statistics were reset) and when this database's statistics were reset:
-- the "stats baseline" a restore decision compares against (rows written since).
-- PostgreSQL 9.x+. Statistics views only: takes no lock. Run in autocommit (inside a
-- transaction the statistics are a cached snapshot).
SELECT s.schemaname AS schema, s.relname AS name, s.relid::bigint AS relid,
       s.n_tup_ins, s.n_tup_upd, s.n_tup_del,
       (SELECT d.stats_reset FROM pg_stat_database d WHERE d.datname = current_database())
           AS stats_reset,
       now() AS taken_at
FROM pg_stat_user_tables s
ORDER BY 1, 2
