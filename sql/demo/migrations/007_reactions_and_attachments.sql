-- Migration 007: reactions, attachments, custom emojis, pins and bookmarks

CREATE TABLE IF NOT EXISTS nchat_reactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id UUID NOT NULL REFERENCES nchat_messages(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    UNIQUE (message_id, user_id, emoji)
);

CREATE INDEX IF NOT EXISTS idx_nchat_reactions_user ON nchat_reactions(user_id);
CREATE INDEX IF NOT EXISTS idx_nchat_reactions_source_account
    ON nchat_reactions(source_account_id, created_at DESC);

CREATE TABLE IF NOT EXISTS nchat_attachments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id UUID NOT NULL REFERENCES nchat_messages(id) ON DELETE CASCADE,
    uploaded_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    file_id UUID,
    type attachment_type NOT NULL DEFAULT 'other',
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    width INTEGER,
    height INTEGER,
    duration_ms INTEGER,
    url TEXT NOT NULL,
    thumbnail_url TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_nchat_attachments_message ON nchat_attachments(message_id);
CREATE INDEX IF NOT EXISTS idx_nchat_attachments_uploaded_by ON nchat_attachments(uploaded_by);

CREATE TABLE IF NOT EXISTS nchat_custom_emojis (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES nchat_workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    image_url TEXT NOT NULL,
    created_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (workspace_id, name)
);

CREATE TABLE IF NOT EXISTS nchat_pinned_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    message_id UUID NOT NULL REFERENCES nchat_messages(id) ON DELETE CASCADE,
    pinned_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    pinned_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (channel_id, message_id)
);

CREATE TABLE IF NOT EXISTS nchat_bookmarks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    message_id UUID NOT NULL REFERENCES nchat_messages(id) ON DELETE CASCADE,
    note TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, message_id)
);

CREATE INDEX IF NOT EXISTS idx_nchat_bookmarks_message ON nchat_bookmarks(message_id);

CREATE TABLE IF NOT EXISTS nchat_drafts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    thread_id UUID REFERENCES nchat_threads(id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_nchat_drafts_user_channel_thread
    ON nchat_drafts(user_id, channel_id, COALESCE(thread_id, '00000000-0000-0000-0000-000000000000'));
