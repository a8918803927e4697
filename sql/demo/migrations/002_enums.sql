-- Migration 002: enumerated types used across nChat
--
-- Created inside DO blocks so that a re-run (or a database restored from a partial dump)
-- does not fail on an existing type.

DO $$
BEGIN
  CREATE TYPE user_status AS ENUM ('active', 'inactive', 'suspended', 'pending_verification');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE presence_status AS ENUM ('online', 'away', 'busy', 'offline', 'invisible');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE channel_type AS ENUM ('public', 'private', 'direct', 'group');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE message_type AS ENUM (
    'text', 'image', 'file', 'audio', 'video', 'code', 'poll', 'system'
  );
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE member_role AS ENUM ('owner', 'admin', 'moderator', 'member', 'guest');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE notification_type AS ENUM (
    'mention', 'reply', 'reaction', 'direct_message', 'channel_invite', 'system'
  );
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

DO $$
BEGIN
  CREATE TYPE attachment_type AS ENUM ('image', 'video', 'audio', 'document', 'archive', 'other');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;
