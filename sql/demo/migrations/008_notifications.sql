-- Migration 008: in-app notifications and web push subscriptions

CREATE TABLE IF NOT EXISTS nchat_notifications (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    type notification_type NOT NULL,
    actor_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    channel_id UUID REFERENCES nchat_channels(id) ON DELETE CASCADE,
    message_id UUID REFERENCES nchat_messages(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT,
    data JSONB NOT NULL DEFAULT '{}',
    is_read BOOLEAN NOT NULL DEFAULT FALSE,
    read_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_nchat_notifications_user_unread
    ON nchat_notifications(user_id, created_at DESC) WHERE is_read = FALSE;
CREATE INDEX IF NOT EXISTS idx_nchat_notifications_message ON nchat_notifications(message_id);

CREATE TABLE IF NOT EXISTS nchat_push_subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    platform TEXT NOT NULL DEFAULT 'web',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    last_used_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT nchat_push_subscriptions_platform CHECK (platform IN ('web', 'ios', 'android'))
);

CREATE INDEX IF NOT EXISTS idx_nchat_push_subscriptions_user ON nchat_push_subscriptions(user_id);
