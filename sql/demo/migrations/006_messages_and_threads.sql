-- Migration 006: messages, threads and thread membership
--
-- Messages are soft-deleted: is_deleted is the flag the clients filter on, deleted_at
-- records when (both are set together). reaction_count and reply_count are maintained by
-- the triggers of migration 011.

CREATE TABLE IF NOT EXISTS nchat_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    thread_id UUID,
    parent_message_id UUID REFERENCES nchat_messages(id) ON DELETE SET NULL,
    type message_type NOT NULL DEFAULT 'text',
    content TEXT,
    content_plain TEXT,
    metadata JSONB NOT NULL DEFAULT '{}',
    mentions UUID[] NOT NULL DEFAULT '{}',
    is_edited BOOLEAN NOT NULL DEFAULT FALSE,
    edited_at TIMESTAMP WITH TIME ZONE,
    is_pinned BOOLEAN NOT NULL DEFAULT FALSE,
    is_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at TIMESTAMP WITH TIME ZONE,
    deleted_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    reaction_count INTEGER NOT NULL DEFAULT 0,
    reply_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    CONSTRAINT nchat_messages_deleted_consistent
        CHECK (NOT is_deleted OR deleted_at IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS idx_nchat_messages_channel_created
    ON nchat_messages(channel_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_nchat_messages_user_id ON nchat_messages(user_id);
CREATE INDEX IF NOT EXISTS idx_nchat_messages_thread_id ON nchat_messages(thread_id, created_at)
    WHERE thread_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_nchat_messages_parent ON nchat_messages(parent_message_id)
    WHERE parent_message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_nchat_messages_pinned ON nchat_messages(channel_id)
    WHERE is_pinned = TRUE;
CREATE INDEX IF NOT EXISTS idx_nchat_messages_source_account
    ON nchat_messages(source_account_id, created_at DESC);

CREATE TABLE IF NOT EXISTS nchat_threads (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    parent_message_id UUID NOT NULL UNIQUE REFERENCES nchat_messages(id) ON DELETE CASCADE,
    created_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    reply_count INTEGER NOT NULL DEFAULT 0,
    participant_count INTEGER NOT NULL DEFAULT 0,
    last_reply_at TIMESTAMP WITH TIME ZONE,
    is_locked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary'
);

CREATE INDEX IF NOT EXISTS idx_nchat_threads_channel ON nchat_threads(channel_id, last_reply_at DESC);
CREATE INDEX IF NOT EXISTS idx_nchat_threads_source_account
    ON nchat_threads(source_account_id, created_at DESC);

ALTER TABLE nchat_messages
    DROP CONSTRAINT IF EXISTS fk_nchat_messages_thread;
ALTER TABLE nchat_messages
    ADD CONSTRAINT fk_nchat_messages_thread
    FOREIGN KEY (thread_id) REFERENCES nchat_threads(id) ON DELETE SET NULL;

CREATE TABLE IF NOT EXISTS nchat_thread_members (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    thread_id UUID NOT NULL REFERENCES nchat_threads(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    last_read_at TIMESTAMP WITH TIME ZONE,
    is_following BOOLEAN NOT NULL DEFAULT TRUE,
    joined_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    UNIQUE (thread_id, user_id)
);

CREATE INDEX IF NOT EXISTS idx_nchat_thread_members_user ON nchat_thread_members(user_id);
CREATE INDEX IF NOT EXISTS idx_nchat_thread_members_source_account
    ON nchat_thread_members(source_account_id, joined_at DESC);
