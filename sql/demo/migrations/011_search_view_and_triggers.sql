-- Migration 011: the search view and the triggers that keep counters current
--
-- Depends on: 006_messages_and_threads, 007_reactions_and_attachments
--
-- Search in v0.3.0 is a substring match (ILIKE '%...%') on content through the view: it
-- has no index, so it scans nchat_messages. Native full-text search (tsvector + GIN) and
-- trigram indexes come in a later release.
--
-- What this migration does:
--   1. Creates the search view that the client's search box and the MeiliSearch sync hook
--      read
--   2. Installs updated_at triggers and the counter triggers (reactions, replies,
--      channel members, channel last_message_at)

-- ============================================================================
-- Search view
-- ============================================================================

CREATE OR REPLACE VIEW nchat_messages_search_view AS
SELECT
  m.id,
  m.channel_id,
  m.user_id,
  m.thread_id,
  m.parent_message_id,
  coalesce(m.content_plain, m.content) AS content_search,
  m.type,
  m.is_pinned,
  m.is_deleted,
  m.is_edited,
  m.reaction_count,
  m.reply_count,
  m.mentions,
  m.created_at,
  m.updated_at
FROM nchat_messages m
WHERE m.is_deleted IS NOT TRUE;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nhost_hasura') THEN
    EXECUTE 'GRANT SELECT ON nchat_messages_search_view TO nhost_hasura';
  END IF;
END;
$$;

-- ============================================================================
-- updated_at triggers
-- ============================================================================

DROP TRIGGER IF EXISTS trg_nchat_users_updated_at ON nchat_users;
CREATE TRIGGER trg_nchat_users_updated_at BEFORE UPDATE ON nchat_users
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

DROP TRIGGER IF EXISTS trg_nchat_profiles_updated_at ON nchat_profiles;
CREATE TRIGGER trg_nchat_profiles_updated_at BEFORE UPDATE ON nchat_profiles
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

DROP TRIGGER IF EXISTS trg_nchat_workspaces_updated_at ON nchat_workspaces;
CREATE TRIGGER trg_nchat_workspaces_updated_at BEFORE UPDATE ON nchat_workspaces
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

DROP TRIGGER IF EXISTS trg_nchat_channels_updated_at ON nchat_channels;
CREATE TRIGGER trg_nchat_channels_updated_at BEFORE UPDATE ON nchat_channels
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

DROP TRIGGER IF EXISTS trg_nchat_messages_updated_at ON nchat_messages;
CREATE TRIGGER trg_nchat_messages_updated_at BEFORE UPDATE ON nchat_messages
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

DROP TRIGGER IF EXISTS trg_nchat_threads_updated_at ON nchat_threads;
CREATE TRIGGER trg_nchat_threads_updated_at BEFORE UPDATE ON nchat_threads
    FOR EACH ROW EXECUTE FUNCTION nchat_set_updated_at();

-- ============================================================================
-- Counter triggers
-- ============================================================================

CREATE OR REPLACE FUNCTION nchat_reactions_count()
RETURNS TRIGGER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE nchat_messages SET reaction_count = reaction_count + 1 WHERE id = NEW.message_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE nchat_messages SET reaction_count = greatest(reaction_count - 1, 0)
     WHERE id = OLD.message_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_nchat_reactions_count ON nchat_reactions;
CREATE TRIGGER trg_nchat_reactions_count AFTER INSERT OR DELETE ON nchat_reactions
    FOR EACH ROW EXECUTE FUNCTION nchat_reactions_count();

CREATE OR REPLACE FUNCTION nchat_messages_after_insert()
RETURNS TRIGGER AS $$
BEGIN
  UPDATE nchat_channels SET last_message_at = NEW.created_at
   WHERE id = NEW.channel_id
     AND (last_message_at IS NULL OR last_message_at < NEW.created_at);
  IF NEW.thread_id IS NOT NULL THEN
    UPDATE nchat_threads
       SET reply_count = reply_count + 1, last_reply_at = NEW.created_at
     WHERE id = NEW.thread_id;
  END IF;
  IF NEW.parent_message_id IS NOT NULL THEN
    UPDATE nchat_messages SET reply_count = reply_count + 1 WHERE id = NEW.parent_message_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_nchat_messages_after_insert ON nchat_messages;
CREATE TRIGGER trg_nchat_messages_after_insert AFTER INSERT ON nchat_messages
    FOR EACH ROW EXECUTE FUNCTION nchat_messages_after_insert();

CREATE OR REPLACE FUNCTION nchat_channel_members_count()
RETURNS TRIGGER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE nchat_channels SET member_count = member_count + 1 WHERE id = NEW.channel_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE nchat_channels SET member_count = greatest(member_count - 1, 0)
     WHERE id = OLD.channel_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_nchat_channel_members_count ON nchat_channel_members;
CREATE TRIGGER trg_nchat_channel_members_count AFTER INSERT OR DELETE ON nchat_channel_members
    FOR EACH ROW EXECUTE FUNCTION nchat_channel_members_count();
