-- seed004_channels.sql: seed 004's data-integrity check on nchat_channels after v0.4.0: all
-- channels, not enforcing encryption, enforcing, and enforcing ones created at or before the
-- before-snapshot (the before parameter; those existed before the upgrade and must not enforce it).
-- PostgreSQL 9.4+ (FILTER). Needs the enforce_encryption column (migration 014). ACCESS SHARE.
SELECT count(*) AS total,
       count(*) FILTER (WHERE NOT enforce_encryption) AS non_enforced,
       count(*) FILTER (WHERE enforce_encryption) AS enforced,
       count(*) FILTER (WHERE enforce_encryption AND created_at <= %(before)s) AS enforced_existing
FROM public.nchat_channels
