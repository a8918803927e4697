-- nchat-tui demo: what an nself stack creates before nChat's own migrations run.
--
-- Returns: nothing (DDL). PostgreSQL 12+. Locks: only on the objects it creates.
--
-- In a real deployment these objects belong to the platform services, not to nChat:
-- the Postgres image enables POSTGRES_EXTENSIONS, hasura-auth owns schema "auth",
-- hasura-storage owns schema "storage" and Hasura owns "hdb_catalog". The demo recreates
-- their shape so that nChat's migrations (which reference auth.users) apply as they do in
-- production. Idempotent: every statement may run again.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS citext;
-- nself's Postgres preloads pg_stat_statements; creating the extension works even where it is
-- not preloaded (only reading the view then fails).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- ---------------------------------------------------------------------------
-- auth (hasura-auth)
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.roles (
    role TEXT PRIMARY KEY
);

INSERT INTO auth.roles (role) VALUES ('user'), ('me'), ('anonymous'), ('admin')
ON CONFLICT (role) DO NOTHING;

CREATE TABLE IF NOT EXISTS auth.users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen TIMESTAMPTZ,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url TEXT NOT NULL DEFAULT '',
    locale VARCHAR(2) NOT NULL DEFAULT 'en',
    email CITEXT UNIQUE,
    phone_number TEXT UNIQUE,
    password_hash TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    phone_number_verified BOOLEAN NOT NULL DEFAULT FALSE,
    default_role TEXT NOT NULL DEFAULT 'user' REFERENCES auth.roles (role),
    is_anonymous BOOLEAN NOT NULL DEFAULT FALSE,
    metadata JSONB
);

CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    refresh_token_hash VARCHAR(255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    user_id UUID NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS refresh_tokens_user_id_idx ON auth.refresh_tokens (user_id);

-- ---------------------------------------------------------------------------
-- storage (hasura-storage)
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS storage;

CREATE TABLE IF NOT EXISTS storage.buckets (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    download_expiration INTEGER NOT NULL DEFAULT 30,
    min_upload_file_size INTEGER NOT NULL DEFAULT 1,
    max_upload_file_size INTEGER NOT NULL DEFAULT 50000000,
    cache_control TEXT DEFAULT 'max-age=3600',
    presigned_urls_enabled BOOLEAN NOT NULL DEFAULT TRUE
);

INSERT INTO storage.buckets (id) VALUES ('default'), ('avatars') ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS storage.files (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    bucket_id TEXT NOT NULL DEFAULT 'default' REFERENCES storage.buckets (id),
    name TEXT,
    size INTEGER,
    mime_type TEXT,
    etag TEXT,
    is_uploaded BOOLEAN DEFAULT FALSE,
    uploaded_by_user_id UUID REFERENCES auth.users (id) ON DELETE SET NULL
);

-- ---------------------------------------------------------------------------
-- hdb_catalog (Hasura metadata)
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS hdb_catalog;

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_version (
    hasura_uuid UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    version TEXT NOT NULL,
    upgraded_on TIMESTAMPTZ NOT NULL,
    cli_state JSONB NOT NULL DEFAULT '{}'::jsonb,
    console_state JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_metadata (
    id INTEGER PRIMARY KEY,
    metadata JSON NOT NULL,
    resource_version INTEGER NOT NULL DEFAULT 1 UNIQUE
);

INSERT INTO hdb_catalog.hdb_version (version, upgraded_on)
SELECT '48', now() - INTERVAL '240 days'
WHERE NOT EXISTS (SELECT 1 FROM hdb_catalog.hdb_version);

INSERT INTO hdb_catalog.hdb_metadata (id, metadata, resource_version)
VALUES (1, '{"version": 3, "sources": [{"name": "default", "kind": "postgres"}]}', 1)
ON CONFLICT (id) DO NOTHING;
