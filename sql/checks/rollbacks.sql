-- rollbacks.sql: how many transactions rolled back in this database, and the tables whose
-- dead tuples outnumber their live ones (rolled-back inserts leave dead tuples behind).
-- Returns one row: commits, rollbacks, stats_reset, and suspect tables as JSON.
-- PostgreSQL 12+. Statistics views only, no relation locks.
SELECT d.xact_commit AS commits, d.xact_rollback AS rollbacks, d.stats_reset,
       coalesce((SELECT json_agg(json_build_object(
                     'table', s.schemaname || '.' || s.relname, 'inserted', s.n_tup_ins,
                     'live', s.n_live_tup, 'dead', s.n_dead_tup) ORDER BY s.n_dead_tup DESC)
                 FROM pg_stat_user_tables s
                 WHERE s.n_dead_tup > 100 AND s.n_dead_tup > s.n_live_tup), '[]'::json)
           AS suspect_tables
FROM pg_stat_database d
WHERE d.datname = current_database()
