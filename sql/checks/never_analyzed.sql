-- never_analyzed.sql: user tables with rows that have never been analyzed (manually or by
-- autovacuum): the planner guesses their statistics. Returns schema, table, live and
-- modified-since-analyze tuple counts. PostgreSQL 12+. Statistics views, no relation locks.
SELECT s.schemaname AS schema, s.relname AS "table", s.n_live_tup AS live_tuples,
       s.n_mod_since_analyze AS mod_since_analyze, c.reltuples < 0 AS no_stats
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.last_analyze IS NULL AND s.last_autoanalyze IS NULL
  AND (s.n_live_tup > 0 OR s.n_mod_since_analyze > 0)
ORDER BY s.n_live_tup DESC, s.schemaname, s.relname
