-- cleanup_prekeys_delete.sql: seed 004's cleanup job 2: delete one-time prekeys consumed more
-- than 30 days ago. Any PostgreSQL. ROW EXCLUSIVE on nchat_one_time_prekeys, row locks (the
-- guide's refresh trigger fires on INSERT and UPDATE only, not on DELETE).
DELETE FROM public.nchat_one_time_prekeys
WHERE is_consumed = TRUE AND consumed_at < now() - interval '30 days'
