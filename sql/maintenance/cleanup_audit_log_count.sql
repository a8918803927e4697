-- cleanup_audit_log_count.sql: seed 004's cleanup job 1: E2EE audit log rows older than 90
-- days (what cleanup_audit_log_delete.sql would delete). One row. Any PostgreSQL.
-- ACCESS SHARE on nchat_e2ee_audit_log.
SELECT count(*) AS rows FROM public.nchat_e2ee_audit_log
WHERE created_at < now() - interval '90 days'
