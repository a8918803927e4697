-- Migration 014: End-to-end encryption infrastructure (final) - nChat v0.4.0
--
-- Tables (8): nchat_user_master_keys, nchat_identity_keys, nchat_signed_prekeys,
-- nchat_one_time_prekeys, nchat_signal_sessions, nchat_safety_numbers,
-- nchat_e2ee_audit_log, and the materialized view nchat_prekey_bundles with its refresh
-- triggers. Modifies nchat_messages (is_encrypted, encrypted_payload, sender_device_id)
-- and nchat_channels (enforce_encryption).
--
-- Works on a fresh v0.3.0 database (creates the tables) and after the draft
-- 013_e2ee_system.sql (completes the draft tables in place: every step checks first).
--
-- Locks: ACCESS EXCLUSIVE on nchat_messages and nchat_channels for the ADD COLUMNs
-- (no rewrite: constant defaults), SHARE ROW EXCLUSIVE on nchat_messages while the
-- foreign key is validated, and SHARE on nchat_messages while its two indexes are built
-- (writes to messages wait for the build).

-- ============================================================================
-- 1. nchat_user_master_keys
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_user_master_keys (
    user_id UUID PRIMARY KEY REFERENCES nchat_users(id) ON DELETE CASCADE,
    master_key_salt BYTEA NOT NULL,  -- 32 bytes
    pbkdf2_iterations INTEGER NOT NULL DEFAULT 100000,
    recovery_code_hash TEXT NOT NULL,  -- SHA-256 hash of recovery code
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

-- Complete the 013 draft (no-ops on a table created just above).
ALTER TABLE nchat_user_master_keys
    ADD COLUMN IF NOT EXISTS recovery_code_hash TEXT,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW();
ALTER TABLE nchat_user_master_keys ALTER COLUMN recovery_code_hash SET NOT NULL;

CREATE INDEX IF NOT EXISTS idx_user_master_keys_user_id ON nchat_user_master_keys(user_id);

-- ============================================================================
-- 2. nchat_identity_keys
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_identity_keys (
    device_id TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    identity_key_public BYTEA NOT NULL,  -- 32 bytes (Curve25519)
    identity_key_private_encrypted BYTEA NOT NULL,  -- ~80 bytes (AES-256-GCM encrypted)
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(user_id, device_id)
);

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
     WHERE conrelid = 'nchat_identity_keys'::regclass
       AND conname = 'nchat_identity_keys_user_id_device_id_key'
  ) THEN
    ALTER TABLE nchat_identity_keys
      ADD CONSTRAINT nchat_identity_keys_user_id_device_id_key UNIQUE (user_id, device_id);
  END IF;
END;
$$;

CREATE INDEX IF NOT EXISTS idx_identity_keys_user_id ON nchat_identity_keys(user_id);
CREATE INDEX IF NOT EXISTS idx_identity_keys_device_id ON nchat_identity_keys(device_id);

-- ============================================================================
-- 3. nchat_signed_prekeys
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_signed_prekeys (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    signed_prekey_id INTEGER NOT NULL,
    signed_prekey_public BYTEA NOT NULL,  -- 32 bytes
    signed_prekey_private_encrypted BYTEA NOT NULL,  -- ~80 bytes
    signature BYTEA NOT NULL,  -- 64 bytes (Ed25519)
    rotation_date TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, signed_prekey_id)
);

ALTER TABLE nchat_signed_prekeys
    ADD COLUMN IF NOT EXISTS rotation_date TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    ADD COLUMN IF NOT EXISTS is_active BOOLEAN NOT NULL DEFAULT TRUE;

CREATE INDEX IF NOT EXISTS idx_signed_prekeys_device_id ON nchat_signed_prekeys(device_id);
CREATE INDEX IF NOT EXISTS idx_signed_prekeys_active ON nchat_signed_prekeys(device_id, is_active);
CREATE INDEX IF NOT EXISTS idx_signed_prekeys_rotation ON nchat_signed_prekeys(rotation_date)
    WHERE is_active = TRUE;

-- ============================================================================
-- 4. nchat_one_time_prekeys
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_one_time_prekeys (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    prekey_id INTEGER NOT NULL,
    prekey_public BYTEA NOT NULL,  -- 32 bytes
    prekey_private_encrypted BYTEA NOT NULL,  -- ~80 bytes
    is_consumed BOOLEAN NOT NULL DEFAULT FALSE,
    consumed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, prekey_id)
);

ALTER TABLE nchat_one_time_prekeys
    ADD COLUMN IF NOT EXISTS consumed_at TIMESTAMP WITH TIME ZONE;

CREATE INDEX IF NOT EXISTS idx_one_time_prekeys_device_id ON nchat_one_time_prekeys(device_id);
CREATE INDEX IF NOT EXISTS idx_one_time_prekeys_available
    ON nchat_one_time_prekeys(device_id, is_consumed) WHERE is_consumed = FALSE;
CREATE INDEX IF NOT EXISTS idx_one_time_prekeys_consumed ON nchat_one_time_prekeys(consumed_at)
    WHERE is_consumed = TRUE;

-- ============================================================================
-- 5. nchat_signal_sessions
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_signal_sessions (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    peer_user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    peer_device_id TEXT NOT NULL,
    session_state_encrypted BYTEA NOT NULL,  -- Encrypted Double Ratchet state (~500 bytes)
    is_initiator BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    last_message_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, peer_user_id, peer_device_id)
);

ALTER TABLE nchat_signal_sessions
    ADD COLUMN IF NOT EXISTS is_active BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN IF NOT EXISTS last_message_at TIMESTAMP WITH TIME ZONE,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW();

CREATE INDEX IF NOT EXISTS idx_signal_sessions_device_id ON nchat_signal_sessions(device_id);
CREATE INDEX IF NOT EXISTS idx_signal_sessions_peer
    ON nchat_signal_sessions(peer_user_id, peer_device_id);
CREATE INDEX IF NOT EXISTS idx_signal_sessions_active ON nchat_signal_sessions(device_id, is_active);
CREATE INDEX IF NOT EXISTS idx_signal_sessions_last_message ON nchat_signal_sessions(last_message_at)
    WHERE is_active = TRUE;

-- ============================================================================
-- 6. nchat_safety_numbers
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_safety_numbers (
    id SERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    peer_user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    safety_number TEXT NOT NULL,  -- 60 digits
    verified_at TIMESTAMP WITH TIME ZONE,
    verification_method TEXT,  -- 'manual', 'qr_code', 'out_of_band'
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(user_id, peer_user_id),
    CHECK (LENGTH(safety_number) = 60),
    CHECK (verification_method IN ('manual', 'qr_code', 'out_of_band', NULL))
);

ALTER TABLE nchat_safety_numbers
    ADD COLUMN IF NOT EXISTS verification_method TEXT,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW();

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
     WHERE conrelid = 'nchat_safety_numbers'::regclass
       AND conname = 'nchat_safety_numbers_safety_number_check'
  ) THEN
    ALTER TABLE nchat_safety_numbers
      ADD CONSTRAINT nchat_safety_numbers_safety_number_check
      CHECK (LENGTH(safety_number) = 60);
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
     WHERE conrelid = 'nchat_safety_numbers'::regclass
       AND conname = 'nchat_safety_numbers_verification_method_check'
  ) THEN
    ALTER TABLE nchat_safety_numbers
      ADD CONSTRAINT nchat_safety_numbers_verification_method_check
      CHECK (verification_method IN ('manual', 'qr_code', 'out_of_band', NULL));
  END IF;
END;
$$;

CREATE INDEX IF NOT EXISTS idx_safety_numbers_user_id ON nchat_safety_numbers(user_id);
CREATE INDEX IF NOT EXISTS idx_safety_numbers_peer_user_id ON nchat_safety_numbers(peer_user_id);
CREATE INDEX IF NOT EXISTS idx_safety_numbers_verified ON nchat_safety_numbers(user_id, verified_at)
    WHERE verified_at IS NOT NULL;

-- ============================================================================
-- 7. nchat_e2ee_audit_log
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_e2ee_audit_log (
    id SERIAL PRIMARY KEY,
    event_type TEXT NOT NULL,  -- 'master_key_created', 'device_keys_generated', etc.
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    device_id TEXT,
    metadata JSONB,  -- Additional event metadata (no sensitive data)
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CHECK (event_type IN (
        'master_key_created',
        'device_keys_generated',
        'session_established',
        'session_destroyed',
        'signed_prekey_rotated',
        'prekeys_replenished',
        'safety_number_verified',
        'safety_number_changed',
        'recovery_code_used'
    ))
);

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
     WHERE conrelid = 'nchat_e2ee_audit_log'::regclass
       AND conname = 'nchat_e2ee_audit_log_event_type_check'
  ) THEN
    ALTER TABLE nchat_e2ee_audit_log
      ADD CONSTRAINT nchat_e2ee_audit_log_event_type_check CHECK (event_type IN (
        'master_key_created',
        'device_keys_generated',
        'session_established',
        'session_destroyed',
        'signed_prekey_rotated',
        'prekeys_replenished',
        'safety_number_verified',
        'safety_number_changed',
        'recovery_code_used'
      ));
  END IF;
END;
$$;

CREATE INDEX IF NOT EXISTS idx_e2ee_audit_log_user_id ON nchat_e2ee_audit_log(user_id);
CREATE INDEX IF NOT EXISTS idx_e2ee_audit_log_device_id ON nchat_e2ee_audit_log(device_id);
CREATE INDEX IF NOT EXISTS idx_e2ee_audit_log_event_type ON nchat_e2ee_audit_log(event_type);
CREATE INDEX IF NOT EXISTS idx_e2ee_audit_log_created_at ON nchat_e2ee_audit_log(created_at DESC);

-- ============================================================================
-- 8. nchat_prekey_bundles (materialized view) and its refresh triggers
-- ============================================================================

CREATE MATERIALIZED VIEW nchat_prekey_bundles AS
SELECT
    ik.user_id,
    ik.device_id,
    ik.identity_key_public,
    sp.signed_prekey_id,
    sp.signed_prekey_public,
    sp.signature,
    otp.prekey_id AS one_time_prekey_id,
    otp.prekey_public AS one_time_prekey_public
FROM nchat_identity_keys ik
JOIN nchat_signed_prekeys sp ON ik.device_id = sp.device_id AND sp.is_active = TRUE
LEFT JOIN LATERAL (
    SELECT prekey_id, prekey_public
    FROM nchat_one_time_prekeys
    WHERE device_id = ik.device_id AND is_consumed = FALSE
    ORDER BY created_at ASC
    LIMIT 1
) otp ON TRUE;

CREATE UNIQUE INDEX idx_prekey_bundles_device ON nchat_prekey_bundles(device_id);
CREATE INDEX idx_prekey_bundles_user ON nchat_prekey_bundles(user_id);

-- Refresh function (called automatically when keys change)
CREATE OR REPLACE FUNCTION refresh_prekey_bundles()
RETURNS TRIGGER AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY nchat_prekey_bundles;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Triggers to auto-refresh materialized view
CREATE TRIGGER refresh_prekey_bundles_on_identity_key
    AFTER INSERT OR UPDATE OR DELETE ON nchat_identity_keys
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_prekey_bundles();

CREATE TRIGGER refresh_prekey_bundles_on_signed_prekey
    AFTER INSERT OR UPDATE OR DELETE ON nchat_signed_prekeys
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_prekey_bundles();

CREATE TRIGGER refresh_prekey_bundles_on_one_time_prekey
    AFTER INSERT OR UPDATE ON nchat_one_time_prekeys
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_prekey_bundles();

-- ============================================================================
-- 9. nchat_messages: E2EE columns
-- ============================================================================

ALTER TABLE nchat_messages
    ADD COLUMN IF NOT EXISTS is_encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS encrypted_payload BYTEA,
    ADD COLUMN IF NOT EXISTS sender_device_id TEXT;

ALTER TABLE nchat_messages
    ADD CONSTRAINT fk_messages_sender_device
    FOREIGN KEY (sender_device_id) REFERENCES nchat_identity_keys(device_id)
    ON DELETE SET NULL;

CREATE INDEX idx_messages_encrypted ON nchat_messages(channel_id, is_encrypted)
    WHERE is_encrypted = TRUE;

CREATE INDEX idx_messages_sender_device ON nchat_messages(sender_device_id)
    WHERE sender_device_id IS NOT NULL;

-- ============================================================================
-- 10. nchat_channels: per-channel encryption enforcement
-- ============================================================================

ALTER TABLE nchat_channels
    ADD COLUMN IF NOT EXISTS enforce_encryption BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX idx_channels_enforce_encryption ON nchat_channels(enforce_encryption)
    WHERE enforce_encryption = TRUE;

-- ============================================================================
-- 11. Row-level security: a user reaches only their own keys and sessions; prekey
--     bundles are public by design (any user may start a session with any device).
-- ============================================================================

ALTER TABLE nchat_user_master_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_identity_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_signed_prekeys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_one_time_prekeys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_signal_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_safety_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_e2ee_audit_log ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS rls_nchat_user_master_keys_self ON nchat_user_master_keys;
CREATE POLICY rls_nchat_user_master_keys_self ON nchat_user_master_keys FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_identity_keys_read ON nchat_identity_keys;
CREATE POLICY rls_nchat_identity_keys_read ON nchat_identity_keys FOR SELECT USING (TRUE);

DROP POLICY IF EXISTS rls_nchat_identity_keys_write_self ON nchat_identity_keys;
CREATE POLICY rls_nchat_identity_keys_write_self ON nchat_identity_keys FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_signed_prekeys_owner ON nchat_signed_prekeys;
CREATE POLICY rls_nchat_signed_prekeys_owner ON nchat_signed_prekeys FOR ALL
    USING (EXISTS (SELECT 1 FROM nchat_identity_keys ik
                    WHERE ik.device_id = nchat_signed_prekeys.device_id
                      AND ik.user_id = app.current_user_id()));

DROP POLICY IF EXISTS rls_nchat_one_time_prekeys_owner ON nchat_one_time_prekeys;
CREATE POLICY rls_nchat_one_time_prekeys_owner ON nchat_one_time_prekeys FOR ALL
    USING (EXISTS (SELECT 1 FROM nchat_identity_keys ik
                    WHERE ik.device_id = nchat_one_time_prekeys.device_id
                      AND ik.user_id = app.current_user_id()));

DROP POLICY IF EXISTS rls_nchat_signal_sessions_owner ON nchat_signal_sessions;
CREATE POLICY rls_nchat_signal_sessions_owner ON nchat_signal_sessions FOR ALL
    USING (EXISTS (SELECT 1 FROM nchat_identity_keys ik
                    WHERE ik.device_id = nchat_signal_sessions.device_id
                      AND ik.user_id = app.current_user_id()));

DROP POLICY IF EXISTS rls_nchat_safety_numbers_self ON nchat_safety_numbers;
CREATE POLICY rls_nchat_safety_numbers_self ON nchat_safety_numbers FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_e2ee_audit_log_self ON nchat_e2ee_audit_log;
CREATE POLICY rls_nchat_e2ee_audit_log_self ON nchat_e2ee_audit_log FOR SELECT
    USING (user_id = app.current_user_id());
