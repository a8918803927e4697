-- cleanup_prekeys_count.sql: seed 004's cleanup job 2: consumed one-time prekeys consumed more
-- than 30 days ago (what cleanup_prekeys_delete.sql would delete). One row. Any PostgreSQL.
-- ACCESS SHARE on nchat_one_time_prekeys.
SELECT count(*) AS rows FROM public.nchat_one_time_prekeys
WHERE is_consumed = TRUE AND consumed_at < now() - interval '30 days'
