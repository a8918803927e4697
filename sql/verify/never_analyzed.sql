-- never_analyzed.sql: user tables with no ANALYZE or autoanalyze on record since the
-- statistics were last reset: the planner guesses their sizes. With their live row estimate.
-- PostgreSQL 9.x+. Statistics views only: takes no lock.
SELECT schemaname AS schema, relname AS name, n_live_tup, n_mod_since_analyze
FROM pg_stat_user_tables
WHERE last_analyze IS NULL AND last_autoanalyze IS NULL
ORDER BY 1, 2
