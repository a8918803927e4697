-- orphaned_identity_keys.sql: rows of public.nchat_identity_keys whose user no longer exists
-- in public.nchat_users: they make the v0.4.0 foreign key fail. Call only when both tables
-- exist. Returns one row: the count and up to 10 example user ids.
-- Takes ACCESS SHARE on both tables. PostgreSQL 12+.
SELECT count(*) AS orphans,
       (array_agg(DISTINCT k.user_id::text))[1:10] AS example_user_ids
FROM public.nchat_identity_keys k
WHERE k.user_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM public.nchat_users u WHERE u.id = k.user_id)
