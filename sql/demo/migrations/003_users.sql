-- Migration 003: users and everything that hangs off one user
--
-- nchat_users mirrors auth.users (hasura-auth) with chat-specific fields. Users are
-- soft-deleted: deleted_at is set and the row stays so that their messages keep an author.

CREATE TABLE IF NOT EXISTS nchat_users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    auth_user_id UUID UNIQUE REFERENCES auth.users(id) ON DELETE SET NULL,
    username CITEXT NOT NULL UNIQUE,
    email CITEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    avatar_url TEXT,
    status user_status NOT NULL DEFAULT 'active',
    is_bot BOOLEAN NOT NULL DEFAULT FALSE,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    locale TEXT NOT NULL DEFAULT 'en',
    last_seen_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMP WITH TIME ZONE,
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    CONSTRAINT nchat_users_username_format CHECK (username ~ '^[a-zA-Z0-9._-]{2,40}$')
);

CREATE INDEX IF NOT EXISTS idx_nchat_users_status ON nchat_users(status) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_nchat_users_display_name_trgm
    ON nchat_users USING GIN (display_name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_nchat_users_source_account
    ON nchat_users(source_account_id, created_at DESC);

CREATE TABLE IF NOT EXISTS nchat_profiles (
    user_id UUID PRIMARY KEY REFERENCES nchat_users(id) ON DELETE CASCADE,
    bio TEXT,
    title TEXT,
    pronouns TEXT,
    phone TEXT,
    location TEXT,
    website TEXT,
    custom_status TEXT,
    custom_status_emoji TEXT,
    custom_status_expires_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary'
);

CREATE TABLE IF NOT EXISTS nchat_presence (
    user_id UUID PRIMARY KEY REFERENCES nchat_users(id) ON DELETE CASCADE,
    status presence_status NOT NULL DEFAULT 'offline',
    last_active_at TIMESTAMP WITH TIME ZONE,
    device TEXT,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary'
);

CREATE INDEX IF NOT EXISTS idx_nchat_presence_status ON nchat_presence(status)
    WHERE status <> 'offline';

CREATE TABLE IF NOT EXISTS nchat_user_settings (
    user_id UUID PRIMARY KEY REFERENCES nchat_users(id) ON DELETE CASCADE,
    theme TEXT NOT NULL DEFAULT 'system',
    notification_prefs JSONB NOT NULL DEFAULT '{"desktop": true, "mobile": true, "email": "daily"}',
    compact_mode BOOLEAN NOT NULL DEFAULT FALSE,
    show_presence BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    CONSTRAINT nchat_user_settings_theme CHECK (theme IN ('light', 'dark', 'system'))
);

CREATE TABLE IF NOT EXISTS nchat_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    device_name TEXT,
    platform TEXT,
    ip_address INET,
    user_agent TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    last_active_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITH TIME ZONE
);

CREATE INDEX IF NOT EXISTS idx_nchat_sessions_user_id ON nchat_sessions(user_id);
CREATE INDEX IF NOT EXISTS idx_nchat_sessions_active ON nchat_sessions(user_id, last_active_at DESC)
    WHERE revoked_at IS NULL;
