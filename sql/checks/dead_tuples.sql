-- dead_tuples.sql: user tables with many dead tuples (over the min_dead parameter and
-- over the ratio parameter of the live ones): space and scan time wasted until VACUUM.
-- Returns schema, table, live and dead tuples, the dead ratio, last (auto)vacuum.
-- PostgreSQL 12+. Statistics views only, no relation locks.
SELECT s.schemaname AS schema, s.relname AS "table", s.n_live_tup AS live_tuples,
       s.n_dead_tup AS dead_tuples,
       round(s.n_dead_tup::numeric / greatest(s.n_live_tup, 1), 2)::float8 AS dead_ratio,
       greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum
FROM pg_stat_user_tables s
WHERE s.n_dead_tup > %(min_dead)s
  AND s.n_dead_tup > %(ratio)s * greatest(s.n_live_tup, 1)
ORDER BY s.n_dead_tup DESC
