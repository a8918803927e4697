-- Migration 001: extensions and helper functions for nChat
--
-- Extensions come from POSTGRES_EXTENSIONS in a normal nself stack; creating them again is
-- harmless. Schema "app" holds the helpers that the RLS policies (012) call: they read the
-- Hasura session variables that Hasura sets per request.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS citext;

CREATE SCHEMA IF NOT EXISTS app;

-- The signed-in user's id from Hasura's session variables, or NULL.
CREATE OR REPLACE FUNCTION app.current_user_id()
RETURNS UUID AS $$
  SELECT NULLIF(current_setting('hasura.user.x-hasura-user-id', true), '')::uuid;
$$ LANGUAGE SQL STABLE;

-- The caller's Hasura role ('user', 'admin', ...), or NULL.
CREATE OR REPLACE FUNCTION app.current_role_name()
RETURNS TEXT AS $$
  SELECT NULLIF(current_setting('hasura.user.x-hasura-role', true), '');
$$ LANGUAGE SQL STABLE;

-- The source app of this deploy (multi-app isolation), or NULL: see 012.
CREATE OR REPLACE FUNCTION app.current_source_account_id()
RETURNS TEXT AS $$
  SELECT NULLIF(current_setting('app.current_source_account_id', true), '');
$$ LANGUAGE SQL STABLE;

-- Shared trigger function: keep updated_at current on UPDATE.
CREATE OR REPLACE FUNCTION public.nchat_set_updated_at()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
