-- Rollback of migration 013: drop the draft E2EE tables
--
-- Run after 014_e2ee_system.down.sql. CASCADE is not used on purpose: if anything still
-- depends on these tables (014 not rolled back first), the rollback stops with an error
-- instead of silently dropping 014's objects.

DROP TABLE IF EXISTS nchat_e2ee_audit_log;
DROP TABLE IF EXISTS nchat_safety_numbers;
DROP TABLE IF EXISTS nchat_signal_sessions;
DROP TABLE IF EXISTS nchat_one_time_prekeys;
DROP TABLE IF EXISTS nchat_signed_prekeys;
DROP TABLE IF EXISTS nchat_identity_keys;
DROP TABLE IF EXISTS nchat_user_master_keys;
