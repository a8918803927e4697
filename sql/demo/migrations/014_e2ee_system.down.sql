-- Rollback of migration 014: back to the v0.3.0 schema plus the 013 draft tables
--
-- Removes everything 014 added: the materialized view, its refresh function and
-- triggers, the policies, the columns, constraints and indexes that completed the draft
-- tables, and the E2EE columns on nchat_messages and nchat_channels. The seven tables
-- themselves belong to 013 (014 only completes them); 013_e2ee_system.down.sql drops them.
-- On a database where 014 ran without 013, the draft-shaped tables stay until 013's down
-- runs as well.
--
-- Data: dropping is_encrypted / encrypted_payload / sender_device_id loses encrypted
-- message payloads. Take a backup first if any message was sent encrypted.

-- nchat_channels
DROP INDEX IF EXISTS idx_channels_enforce_encryption;
ALTER TABLE nchat_channels DROP COLUMN IF EXISTS enforce_encryption;

-- nchat_messages
DROP INDEX IF EXISTS idx_messages_sender_device;
DROP INDEX IF EXISTS idx_messages_encrypted;
ALTER TABLE nchat_messages DROP CONSTRAINT IF EXISTS fk_messages_sender_device;
ALTER TABLE nchat_messages
    DROP COLUMN IF EXISTS sender_device_id,
    DROP COLUMN IF EXISTS encrypted_payload,
    DROP COLUMN IF EXISTS is_encrypted;

-- materialized view, refresh triggers and function
DROP TRIGGER IF EXISTS refresh_prekey_bundles_on_one_time_prekey ON nchat_one_time_prekeys;
DROP TRIGGER IF EXISTS refresh_prekey_bundles_on_signed_prekey ON nchat_signed_prekeys;
DROP TRIGGER IF EXISTS refresh_prekey_bundles_on_identity_key ON nchat_identity_keys;
DROP FUNCTION IF EXISTS refresh_prekey_bundles();
DROP MATERIALIZED VIEW IF EXISTS nchat_prekey_bundles;

-- policies
DROP POLICY IF EXISTS rls_nchat_e2ee_audit_log_self ON nchat_e2ee_audit_log;
DROP POLICY IF EXISTS rls_nchat_safety_numbers_self ON nchat_safety_numbers;
DROP POLICY IF EXISTS rls_nchat_signal_sessions_owner ON nchat_signal_sessions;
DROP POLICY IF EXISTS rls_nchat_one_time_prekeys_owner ON nchat_one_time_prekeys;
DROP POLICY IF EXISTS rls_nchat_signed_prekeys_owner ON nchat_signed_prekeys;
DROP POLICY IF EXISTS rls_nchat_identity_keys_write_self ON nchat_identity_keys;
DROP POLICY IF EXISTS rls_nchat_identity_keys_read ON nchat_identity_keys;
DROP POLICY IF EXISTS rls_nchat_user_master_keys_self ON nchat_user_master_keys;

-- nchat_e2ee_audit_log
DROP INDEX IF EXISTS idx_e2ee_audit_log_created_at;
DROP INDEX IF EXISTS idx_e2ee_audit_log_event_type;
DROP INDEX IF EXISTS idx_e2ee_audit_log_device_id;
ALTER TABLE nchat_e2ee_audit_log DROP CONSTRAINT IF EXISTS nchat_e2ee_audit_log_event_type_check;

-- nchat_safety_numbers
DROP INDEX IF EXISTS idx_safety_numbers_verified;
DROP INDEX IF EXISTS idx_safety_numbers_peer_user_id;
DROP INDEX IF EXISTS idx_safety_numbers_user_id;
ALTER TABLE nchat_safety_numbers
    DROP CONSTRAINT IF EXISTS nchat_safety_numbers_verification_method_check,
    DROP CONSTRAINT IF EXISTS nchat_safety_numbers_safety_number_check,
    DROP COLUMN IF EXISTS updated_at,
    DROP COLUMN IF EXISTS verification_method;

-- nchat_signal_sessions
DROP INDEX IF EXISTS idx_signal_sessions_last_message;
DROP INDEX IF EXISTS idx_signal_sessions_active;
DROP INDEX IF EXISTS idx_signal_sessions_peer;
ALTER TABLE nchat_signal_sessions
    DROP COLUMN IF EXISTS updated_at,
    DROP COLUMN IF EXISTS last_message_at,
    DROP COLUMN IF EXISTS is_active;

-- nchat_one_time_prekeys
DROP INDEX IF EXISTS idx_one_time_prekeys_consumed;
DROP INDEX IF EXISTS idx_one_time_prekeys_available;
ALTER TABLE nchat_one_time_prekeys DROP COLUMN IF EXISTS consumed_at;

-- nchat_signed_prekeys
DROP INDEX IF EXISTS idx_signed_prekeys_rotation;
DROP INDEX IF EXISTS idx_signed_prekeys_active;
ALTER TABLE nchat_signed_prekeys
    DROP COLUMN IF EXISTS is_active,
    DROP COLUMN IF EXISTS rotation_date;

-- nchat_identity_keys
DROP INDEX IF EXISTS idx_identity_keys_device_id;
ALTER TABLE nchat_identity_keys
    DROP CONSTRAINT IF EXISTS nchat_identity_keys_user_id_device_id_key;

-- nchat_user_master_keys
DROP INDEX IF EXISTS idx_user_master_keys_user_id;
ALTER TABLE nchat_user_master_keys
    DROP COLUMN IF EXISTS updated_at,
    DROP COLUMN IF EXISTS recovery_code_hash;
