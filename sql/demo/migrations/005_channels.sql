-- Migration 005: channels and channel membership
--
-- Channels are never deleted by the application: they are archived (is_archived,
-- archived_at). Direct messages are channels of type 'direct' with two members.

CREATE TABLE IF NOT EXISTS nchat_channels (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES nchat_workspaces(id) ON DELETE CASCADE,
    category_id UUID REFERENCES nchat_categories(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT,
    topic TEXT,
    type channel_type NOT NULL DEFAULT 'public',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    is_read_only BOOLEAN NOT NULL DEFAULT FALSE,
    is_archived BOOLEAN NOT NULL DEFAULT FALSE,
    archived_at TIMESTAMP WITH TIME ZONE,
    archived_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    created_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    member_count INTEGER NOT NULL DEFAULT 0,
    last_message_at TIMESTAMP WITH TIME ZONE,
    settings JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    UNIQUE (workspace_id, slug),
    CONSTRAINT nchat_channels_archived_consistent
        CHECK (is_archived = (archived_at IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS idx_nchat_channels_workspace ON nchat_channels(workspace_id, type)
    WHERE is_archived = FALSE;
CREATE INDEX IF NOT EXISTS idx_nchat_channels_last_message ON nchat_channels(last_message_at DESC);
CREATE INDEX IF NOT EXISTS idx_nchat_channels_name_trgm
    ON nchat_channels USING GIN (name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_nchat_channels_source_account
    ON nchat_channels(source_account_id, created_at DESC);

CREATE TABLE IF NOT EXISTS nchat_channel_members (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    role member_role NOT NULL DEFAULT 'member',
    notification_level TEXT NOT NULL DEFAULT 'all',
    is_muted BOOLEAN NOT NULL DEFAULT FALSE,
    is_starred BOOLEAN NOT NULL DEFAULT FALSE,
    last_read_at TIMESTAMP WITH TIME ZONE,
    last_read_message_id UUID,
    joined_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    UNIQUE (channel_id, user_id),
    CONSTRAINT nchat_channel_members_notification_level
        CHECK (notification_level IN ('all', 'mentions', 'none'))
);

CREATE INDEX IF NOT EXISTS idx_nchat_channel_members_user ON nchat_channel_members(user_id);
CREATE INDEX IF NOT EXISTS idx_nchat_channel_members_source_account
    ON nchat_channel_members(source_account_id, joined_at DESC);
