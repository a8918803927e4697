-- cleanup_audit_log_delete.sql: seed 004's cleanup job 1: delete E2EE audit log rows older
-- than 90 days. Any PostgreSQL. ROW EXCLUSIVE on nchat_e2ee_audit_log, row locks on the rows.
DELETE FROM public.nchat_e2ee_audit_log
WHERE created_at < now() - interval '90 days'
