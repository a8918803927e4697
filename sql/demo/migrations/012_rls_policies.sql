-- Migration 012: row-level security on the nchat tables
--
-- Two layers:
--   1. User-level policies: a user sees the channels they belong to, the messages of those
--      channels, and their own private rows (settings, sessions, notifications, ...).
--      The user comes from Hasura's session variables (app.current_user_id()).
--   2. Multi-app isolation on the eleven core tables that carry source_account_id: rows
--      are visible only when source_account_id matches app.current_source_account_id().
--      FAIL-CLOSED: with the setting unset the predicate is NULL and no row is returned.
--
-- The table owner and superusers bypass RLS (no FORCE ROW LEVEL SECURITY): migrations,
-- backups and the Hasura admin role keep working. Row counts for verification must be
-- taken as the owner or a superuser.

-- ============================================================================
-- Enable RLS on every nchat table
-- ============================================================================

DO $$
DECLARE
  t TEXT;
BEGIN
  FOR t IN
    SELECT c.relname
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'nchat\_%'
  LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
  END LOOP;
END;
$$;

-- ============================================================================
-- User-level policies
-- ============================================================================

DROP POLICY IF EXISTS rls_nchat_users_read ON nchat_users;
CREATE POLICY rls_nchat_users_read ON nchat_users FOR SELECT
    USING (deleted_at IS NULL OR id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_users_update_self ON nchat_users;
CREATE POLICY rls_nchat_users_update_self ON nchat_users FOR UPDATE
    USING (id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_profiles_read ON nchat_profiles;
CREATE POLICY rls_nchat_profiles_read ON nchat_profiles FOR SELECT USING (TRUE);

DROP POLICY IF EXISTS rls_nchat_profiles_write_self ON nchat_profiles;
CREATE POLICY rls_nchat_profiles_write_self ON nchat_profiles FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_presence_read ON nchat_presence;
CREATE POLICY rls_nchat_presence_read ON nchat_presence FOR SELECT USING (TRUE);

DROP POLICY IF EXISTS rls_nchat_user_settings_self ON nchat_user_settings;
CREATE POLICY rls_nchat_user_settings_self ON nchat_user_settings FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_sessions_self ON nchat_sessions;
CREATE POLICY rls_nchat_sessions_self ON nchat_sessions FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_workspaces_member ON nchat_workspaces;
CREATE POLICY rls_nchat_workspaces_member ON nchat_workspaces FOR SELECT
    USING (EXISTS (
      SELECT 1 FROM nchat_workspace_members wm
       WHERE wm.workspace_id = nchat_workspaces.id AND wm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_workspace_members_read ON nchat_workspace_members;
CREATE POLICY rls_nchat_workspace_members_read ON nchat_workspace_members FOR SELECT
    USING (user_id = app.current_user_id() OR EXISTS (
      SELECT 1 FROM nchat_workspace_members me
       WHERE me.workspace_id = nchat_workspace_members.workspace_id
         AND me.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_channels_visible ON nchat_channels;
CREATE POLICY rls_nchat_channels_visible ON nchat_channels FOR SELECT
    USING (type = 'public' OR EXISTS (
      SELECT 1 FROM nchat_channel_members cm
       WHERE cm.channel_id = nchat_channels.id AND cm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_channel_members_read ON nchat_channel_members;
CREATE POLICY rls_nchat_channel_members_read ON nchat_channel_members FOR SELECT
    USING (user_id = app.current_user_id() OR EXISTS (
      SELECT 1 FROM nchat_channel_members me
       WHERE me.channel_id = nchat_channel_members.channel_id
         AND me.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_messages_read ON nchat_messages;
CREATE POLICY rls_nchat_messages_read ON nchat_messages FOR SELECT
    USING (EXISTS (
      SELECT 1 FROM nchat_channel_members cm
       WHERE cm.channel_id = nchat_messages.channel_id AND cm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_messages_insert ON nchat_messages;
CREATE POLICY rls_nchat_messages_insert ON nchat_messages FOR INSERT
    WITH CHECK (user_id = app.current_user_id() AND EXISTS (
      SELECT 1 FROM nchat_channel_members cm
       WHERE cm.channel_id = nchat_messages.channel_id AND cm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_messages_update_own ON nchat_messages;
CREATE POLICY rls_nchat_messages_update_own ON nchat_messages FOR UPDATE
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_threads_read ON nchat_threads;
CREATE POLICY rls_nchat_threads_read ON nchat_threads FOR SELECT
    USING (EXISTS (
      SELECT 1 FROM nchat_channel_members cm
       WHERE cm.channel_id = nchat_threads.channel_id AND cm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_thread_members_self ON nchat_thread_members;
CREATE POLICY rls_nchat_thread_members_self ON nchat_thread_members FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_reactions_read ON nchat_reactions;
CREATE POLICY rls_nchat_reactions_read ON nchat_reactions FOR SELECT
    USING (EXISTS (
      SELECT 1 FROM nchat_messages m
        JOIN nchat_channel_members cm ON cm.channel_id = m.channel_id
       WHERE m.id = nchat_reactions.message_id AND cm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_reactions_write_own ON nchat_reactions;
CREATE POLICY rls_nchat_reactions_write_own ON nchat_reactions FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_attachments_read ON nchat_attachments;
CREATE POLICY rls_nchat_attachments_read ON nchat_attachments FOR SELECT
    USING (EXISTS (
      SELECT 1 FROM nchat_messages m
        JOIN nchat_channel_members cm ON cm.channel_id = m.channel_id
       WHERE m.id = nchat_attachments.message_id AND cm.user_id = app.current_user_id()
    ));

DROP POLICY IF EXISTS rls_nchat_bookmarks_self ON nchat_bookmarks;
CREATE POLICY rls_nchat_bookmarks_self ON nchat_bookmarks FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_drafts_self ON nchat_drafts;
CREATE POLICY rls_nchat_drafts_self ON nchat_drafts FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_notifications_self ON nchat_notifications;
CREATE POLICY rls_nchat_notifications_self ON nchat_notifications FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_push_subscriptions_self ON nchat_push_subscriptions;
CREATE POLICY rls_nchat_push_subscriptions_self ON nchat_push_subscriptions FOR ALL
    USING (user_id = app.current_user_id());

DROP POLICY IF EXISTS rls_nchat_plans_read ON nchat_plans;
CREATE POLICY rls_nchat_plans_read ON nchat_plans FOR SELECT USING (is_active);

DROP POLICY IF EXISTS rls_nchat_admin_all ON nchat_audit_logs;
CREATE POLICY rls_nchat_admin_all ON nchat_audit_logs FOR SELECT
    USING (app.current_role_name() = 'admin');

-- ============================================================================
-- Multi-app isolation (source_account_id) on the eleven core tables
-- ============================================================================

DO $$
DECLARE
  t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'nchat_users', 'nchat_profiles', 'nchat_presence', 'nchat_user_settings',
    'nchat_workspaces', 'nchat_channels', 'nchat_channel_members', 'nchat_messages',
    'nchat_threads', 'nchat_thread_members', 'nchat_reactions'
  ]
  LOOP
    EXECUTE format('DROP POLICY IF EXISTS %I ON public.%I', 'rls_' || t || '_source_account', t);
    EXECUTE format(
      'CREATE POLICY %I ON public.%I AS RESTRICTIVE '
      'USING (source_account_id = app.current_source_account_id())',
      'rls_' || t || '_source_account', t);
  END LOOP;
END;
$$;
