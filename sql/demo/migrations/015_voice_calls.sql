-- Migration 015: Voice and video calls - nChat v0.4.0
--
-- Tables (3): nchat_calls (one row per call in a channel), nchat_call_participants (who
-- joined from which device, and for how long), nchat_call_events (signalling and quality
-- events for troubleshooting; metadata only, never media).
-- Types: call_type, call_status.
--
-- Additive only: no existing table changes. Locks: SHARE ROW EXCLUSIVE on nchat_channels
-- and nchat_users while the foreign keys are created (brief: the new tables are empty).

DO $$
BEGIN
  CREATE TYPE call_type AS ENUM ('voice', 'video', 'screen_share');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE call_status AS ENUM ('ringing', 'active', 'ended', 'missed', 'declined', 'failed');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

-- ============================================================================
-- nchat_calls
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_calls (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    initiated_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    type call_type NOT NULL DEFAULT 'voice',
    status call_status NOT NULL DEFAULT 'ringing',
    is_encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    max_participants INTEGER NOT NULL DEFAULT 8 CHECK (max_participants BETWEEN 2 AND 50),
    room_name TEXT NOT NULL UNIQUE,  -- SFU room (LiveKit) name
    started_at TIMESTAMP WITH TIME ZONE,
    ended_at TIMESTAMP WITH TIME ZONE,
    end_reason TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    CONSTRAINT nchat_calls_ended_after_start CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX IF NOT EXISTS idx_calls_channel_created ON nchat_calls(channel_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_calls_initiated_by ON nchat_calls(initiated_by);
CREATE INDEX IF NOT EXISTS idx_calls_active ON nchat_calls(status)
    WHERE status IN ('ringing', 'active');

DROP TRIGGER IF EXISTS trg_nchat_calls_updated_at ON nchat_calls;
CREATE TRIGGER trg_nchat_calls_updated_at BEFORE UPDATE ON nchat_calls
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

-- ============================================================================
-- nchat_call_participants
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_call_participants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    call_id UUID NOT NULL REFERENCES nchat_calls(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES nchat_users(id) ON DELETE CASCADE,
    device_id TEXT,
    role TEXT NOT NULL DEFAULT 'participant',
    joined_at TIMESTAMP WITH TIME ZONE,
    left_at TIMESTAMP WITH TIME ZONE,
    is_muted BOOLEAN NOT NULL DEFAULT FALSE,
    is_video_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    is_screen_sharing BOOLEAN NOT NULL DEFAULT FALSE,
    connection_quality SMALLINT CHECK (connection_quality BETWEEN 0 AND 5),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT nchat_call_participants_role CHECK (role IN ('host', 'participant')),
    UNIQUE (call_id, user_id)
);

CREATE INDEX IF NOT EXISTS idx_call_participants_user ON nchat_call_participants(user_id);
CREATE INDEX IF NOT EXISTS idx_call_participants_in_call ON nchat_call_participants(call_id)
    WHERE left_at IS NULL;

-- ============================================================================
-- nchat_call_events
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_call_events (
    id BIGSERIAL PRIMARY KEY,
    call_id UUID NOT NULL REFERENCES nchat_calls(id) ON DELETE CASCADE,
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    event_type TEXT NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CHECK (event_type IN (
        'ring', 'accept', 'decline', 'join', 'leave', 'mute', 'unmute',
        'video_on', 'video_off', 'screen_share_start', 'screen_share_stop',
        'reconnect', 'quality_report', 'end'
    ))
);

CREATE INDEX IF NOT EXISTS idx_call_events_call_created ON nchat_call_events(call_id, created_at);

-- ============================================================================
-- Row-level security
-- ============================================================================

ALTER TABLE nchat_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_call_participants ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_call_events ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS rls_nchat_calls_channel_member ON nchat_calls;
CREATE POLICY rls_nchat_calls_channel_member ON nchat_calls FOR SELECT
    USING (EXISTS (SELECT 1 FROM nchat_channel_members cm
                    WHERE cm.channel_id = nchat_calls.channel_id
                      AND cm.user_id = app.current_user_id()));

DROP POLICY IF EXISTS rls_nchat_calls_source_account ON nchat_calls;
CREATE POLICY rls_nchat_calls_source_account ON nchat_calls AS RESTRICTIVE
    USING (source_account_id = app.current_source_account_id());

DROP POLICY IF EXISTS rls_nchat_call_participants_read ON nchat_call_participants;
CREATE POLICY rls_nchat_call_participants_read ON nchat_call_participants FOR SELECT
    USING (EXISTS (SELECT 1 FROM nchat_calls c
                     JOIN nchat_channel_members cm ON cm.channel_id = c.channel_id
                    WHERE c.id = nchat_call_participants.call_id
                      AND cm.user_id = app.current_user_id()));

DROP POLICY IF EXISTS rls_nchat_call_events_participant ON nchat_call_events;
CREATE POLICY rls_nchat_call_events_participant ON nchat_call_events FOR SELECT
    USING (EXISTS (SELECT 1 FROM nchat_call_participants p
                    WHERE p.call_id = nchat_call_events.call_id
                      AND p.user_id = app.current_user_id()));
