-- multiple_active_prekeys.sql: devices with more than one active signed prekey in
-- public.nchat_signed_prekeys: the materialized view's join then yields two rows for one
-- device, and its unique index on device_id fails just as with duplicate device ids.
-- Returns device_id and the number of active prekeys (top 20). Takes ACCESS SHARE.
-- PostgreSQL 12+.
SELECT s.device_id, count(*) AS active_prekeys
FROM public.nchat_signed_prekeys s
WHERE s.is_active
GROUP BY s.device_id
HAVING count(*) > 1
ORDER BY count(*) DESC, s.device_id
LIMIT 20
