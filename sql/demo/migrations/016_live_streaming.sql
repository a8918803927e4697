-- Migration 016: Live streaming - nChat v0.4.0
--
-- Tables (2): nchat_live_streams (a broadcast in a channel: RTMP/WHIP ingest, HLS
-- playback, optional recording) and nchat_stream_viewers (who watched, for how long).
-- Type: stream_status. Function + trigger: keep peak_viewers current as viewers join.
--
-- Additive only. Depends on 015 for nothing, but ships with it in v0.4.0.

DO $$
BEGIN
  CREATE TYPE stream_status AS ENUM ('scheduled', 'live', 'ended', 'cancelled', 'failed');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

-- ============================================================================
-- nchat_live_streams
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_live_streams (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id UUID NOT NULL REFERENCES nchat_channels(id) ON DELETE CASCADE,
    host_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    description TEXT,
    status stream_status NOT NULL DEFAULT 'scheduled',
    stream_key_hash TEXT NOT NULL,  -- SHA-256 of the ingest key; the key itself is never stored
    ingest_protocol TEXT NOT NULL DEFAULT 'rtmp',
    playback_url TEXT,
    is_recording_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    recording_url TEXT,
    scheduled_at TIMESTAMP WITH TIME ZONE,
    started_at TIMESTAMP WITH TIME ZONE,
    ended_at TIMESTAMP WITH TIME ZONE,
    current_viewers INTEGER NOT NULL DEFAULT 0,
    peak_viewers INTEGER NOT NULL DEFAULT 0,
    total_views INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    source_account_id TEXT NOT NULL DEFAULT 'primary',
    CONSTRAINT nchat_live_streams_ingest_protocol CHECK (ingest_protocol IN ('rtmp', 'whip', 'srt')),
    CONSTRAINT nchat_live_streams_viewers CHECK (current_viewers >= 0 AND peak_viewers >= 0)
);

CREATE INDEX IF NOT EXISTS idx_live_streams_channel ON nchat_live_streams(channel_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_live_streams_host ON nchat_live_streams(host_id);
CREATE INDEX IF NOT EXISTS idx_live_streams_live ON nchat_live_streams(started_at DESC)
    WHERE status = 'live';
CREATE INDEX IF NOT EXISTS idx_live_streams_scheduled ON nchat_live_streams(scheduled_at)
    WHERE status = 'scheduled';

DROP TRIGGER IF EXISTS trg_nchat_live_streams_updated_at ON nchat_live_streams;
CREATE TRIGGER trg_nchat_live_streams_updated_at BEFORE UPDATE ON nchat_live_streams
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

-- ============================================================================
-- nchat_stream_viewers
-- ============================================================================

CREATE TABLE IF NOT EXISTS nchat_stream_viewers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    stream_id UUID NOT NULL REFERENCES nchat_live_streams(id) ON DELETE CASCADE,
    user_id UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    joined_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    left_at TIMESTAMP WITH TIME ZONE,
    watch_seconds INTEGER NOT NULL DEFAULT 0,
    client TEXT,
    CONSTRAINT nchat_stream_viewers_left_after_join CHECK (left_at IS NULL OR left_at >= joined_at)
);

CREATE INDEX IF NOT EXISTS idx_stream_viewers_stream ON nchat_stream_viewers(stream_id, joined_at);
CREATE INDEX IF NOT EXISTS idx_stream_viewers_user ON nchat_stream_viewers(user_id);
CREATE INDEX IF NOT EXISTS idx_stream_viewers_watching ON nchat_stream_viewers(stream_id)
    WHERE left_at IS NULL;

-- ============================================================================
-- Viewer counters
-- ============================================================================

CREATE OR REPLACE FUNCTION nchat_stream_viewers_count()
RETURNS TRIGGER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE nchat_live_streams
       SET current_viewers = current_viewers + 1,
           peak_viewers = greatest(peak_viewers, current_viewers + 1),
           total_views = total_views + 1
     WHERE id = NEW.stream_id;
  ELSIF TG_OP = 'UPDATE' AND OLD.left_at IS NULL AND NEW.left_at IS NOT NULL THEN
    UPDATE nchat_live_streams SET current_viewers = greatest(current_viewers - 1, 0)
     WHERE id = NEW.stream_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_nchat_stream_viewers_count ON nchat_stream_viewers;
CREATE TRIGGER trg_nchat_stream_viewers_count AFTER INSERT OR UPDATE OF left_at
    ON nchat_stream_viewers
    FOR EACH ROW EXECUTE FUNCTION nchat_stream_viewers_count();

-- ============================================================================
-- Row-level security
-- ============================================================================

ALTER TABLE nchat_live_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE nchat_stream_viewers ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS rls_nchat_live_streams_visible ON nchat_live_streams;
CREATE POLICY rls_nchat_live_streams_visible ON nchat_live_streams FOR SELECT
    USING (EXISTS (SELECT 1 FROM nchat_channels c
                    WHERE c.id = nchat_live_streams.channel_id
                      AND (c.type = 'public' OR EXISTS (
                        SELECT 1 FROM nchat_channel_members cm
                         WHERE cm.channel_id = c.id AND cm.user_id = app.current_user_id()))));

DROP POLICY IF EXISTS rls_nchat_live_streams_host ON nchat_live_streams;
CREATE POLICY rls_nchat_live_streams_host ON nchat_live_streams FOR ALL
    USING (host_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_live_streams_source_account ON nchat_live_streams;
CREATE POLICY rls_nchat_live_streams_source_account ON nchat_live_streams AS RESTRICTIVE
    USING (source_account_id = app.current_source_account_id());

DROP POLICY IF EXISTS rls_nchat_stream_viewers_self ON nchat_stream_viewers;
CREATE POLICY rls_nchat_stream_viewers_self ON nchat_stream_viewers FOR ALL
    USING (user_id = app.current_user_id());
