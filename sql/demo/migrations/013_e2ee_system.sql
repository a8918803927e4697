-- Migration 013: End-to-end encryption infrastructure (draft)
--
-- First cut of the E2EE key store (Signal Protocol: identity keys, signed and one-time
-- prekeys, Double Ratchet sessions, safety numbers, audit log). It was shipped to staging
-- before the design settled; 014_e2ee_system.sql is the final version and completes these
-- tables in place. Both files use IF NOT EXISTS so that either order of discovery works:
-- 013 then 014 on a database that saw the draft, or 014 alone on a fresh one.
--
-- Draft limitations fixed by 014: no recovery code on master keys, no signed-prekey
-- rotation, no consumed_at on one-time prekeys, no session activity columns, no safety
-- number verification method, no event-type check on the audit log, few indexes, no
-- policies (RLS is enabled, so only the owner sees rows until 014 adds them).

CREATE TABLE IF NOT EXISTS nchat_user_master_keys (
    user_id UUID PRIMARY KEY REFERENCES nchat_users(id) ON DELETE CASCADE,
    master_key_salt BYTEA NOT NULL,
    pbkdf2_iterations INTEGER NOT NULL DEFAULT 100000,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS nchat_identity_keys (
    device_id TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    identity_key_public BYTEA NOT NULL,
    identity_key_private_encrypted BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_identity_keys_user_id ON nchat_identity_keys(user_id);

CREATE TABLE IF NOT EXISTS nchat_signed_prekeys (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    signed_prekey_id INTEGER NOT NULL,
    signed_prekey_public BYTEA NOT NULL,
    signed_prekey_private_encrypted BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, signed_prekey_id)
);

CREATE INDEX IF NOT EXISTS idx_signed_prekeys_device_id ON nchat_signed_prekeys(device_id);

CREATE TABLE IF NOT EXISTS nchat_one_time_prekeys (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    prekey_id INTEGER NOT NULL,
    prekey_public BYTEA NOT NULL,
    prekey_private_encrypted BYTEA NOT NULL,
    is_consumed BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, prekey_id)
);

CREATE INDEX IF NOT EXISTS idx_one_time_prekeys_device_id ON nchat_one_time_prekeys(device_id);

CREATE TABLE IF NOT EXISTS nchat_signal_sessions (
    id SERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES nchat_identity_keys(device_id) ON DELETE CASCADE,
    peer_user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    peer_device_id TEXT NOT NULL,
    session_state_encrypted BYTEA NOT NULL,
    is_initiator BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(device_id, peer_user_id, peer_device_id)
);

CREATE INDEX IF NOT EXISTS idx_signal_sessions_device_id ON nchat_signal_sessions(device_id);

CREATE TABLE IF NOT EXISTS nchat_safety_numbers (
    id SERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    peer_user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    safety_number TEXT NOT NULL,
    verified_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE(user_id, peer_user_id)
);

CREATE TABLE IF NOT EXISTS nchat_e2ee_audit_log (
    id SERIAL PRIMARY KEY,
    event_type TEXT NOT NULL,
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    device_id TEXT,
    metadata JSONB,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_e2ee_audit_log_user_id ON nchat_e2ee_audit_log(user_id);

ALTER TABLE nchat_user_master_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_identity_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_signed_prekeys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_one_time_prekeys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_signal_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_safety_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_e2ee_audit_log ENABLE ROW LEVEL SECURITY;
