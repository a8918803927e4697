-- duplicate_device_ids.sql: device ids that appear more than once in
-- public.nchat_identity_keys: the unique index of the nchat_prekey_bundles materialized view
-- cannot be built over them. Returns device_id and its count (top 20).
-- Takes ACCESS SHARE on the table. PostgreSQL 12+.
SELECT k.device_id, count(*) AS copies
FROM public.nchat_identity_keys k
GROUP BY k.device_id
HAVING count(*) > 1
ORDER BY count(*) DESC, k.device_id
LIMIT 20
