-- seed004_messages.sql: seed 004's data-integrity check on nchat_messages after v0.4.0: all
-- messages, unencrypted, encrypted, and encrypted ones created at or before the before-snapshot
-- (the before parameter; those existed before the upgrade and must still be unencrypted).
-- PostgreSQL 9.4+ (FILTER). Needs the is_encrypted column (migration 014). ACCESS SHARE.
SELECT count(*) AS total,
       count(*) FILTER (WHERE NOT is_encrypted) AS unencrypted,
       count(*) FILTER (WHERE is_encrypted) AS encrypted,
       count(*) FILTER (WHERE is_encrypted AND created_at <= %(before)s) AS encrypted_existing
FROM public.nchat_messages
