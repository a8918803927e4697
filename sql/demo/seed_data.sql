-- nchat-tui demo: realistic nChat v0.3.0 data, generated set-based in SQL.
--
-- Returns: nothing (fills the nchat_* tables, auth.users and storage.files; ends with ANALYZE).
-- PostgreSQL 12+. Must run as a superuser on a database where migrations 001-012 are applied
-- and no data exists yet. Locks: ROW EXCLUSIVE on the tables it fills, SHARE UPDATE
-- EXCLUSIVE for the final ANALYZE.
--
-- Scale: the custom setting nchat_demo.scale (default 1.0), e.g.
--     psql -d nchat -c "SET nchat_demo.scale = '0.1'" -f seed_data.sql
-- At 1.0: about 5,000 users, 300 channels, 300,000 messages (10% of them thread replies),
-- 100,000+ reactions, 40,000 channel memberships; timestamps spread over the last 8 months.
--
-- Distributions are skewed on purpose: a few channels carry most of the traffic (#general,
-- #random, the big team channels), most channels are quiet, a few members of each channel
-- write most of its messages, and recent months are busier than old ones. About 2% of the
-- users are soft-deleted (deleted_at), 1.2% of the messages are soft-deleted (is_deleted and
-- deleted_at), and about 6% of the named channels are archived.
--
-- Phases and lanes: the file runs as is in one session (psql -f), or in two sessions at
-- once (nchat_tui.demo.load_demo): "-- @phase NAME DEFAULT" lines separate phases that
-- start only when every lane finished the previous one; "-- @lane N" marks a statement
-- for lane N only and "-- @each-lane" one that every lane runs, filtered on its own
-- nchat_demo.lane of nchat_demo.lanes (a single session is lane 0 of 1 and runs all).
--
-- Speed: at scale 1.0 about 7 s of CPU on the busier of two lanes (13 s in one session),
-- the way pg_restore does it:
--   * foreign-key and counter triggers are off for the load (session_replication_role =
--     replica: needs a superuser); the counters they would keep (reaction_count,
--     reply_count, member_count, last_message_at, ...) are computed here, set-based;
--   * the plain (non-constraint) indexes of the nchat tables are dropped first and built
--     again at the end from their saved definitions (pg_get_indexdef), so the schema ends
--     exactly as the migrations left it;
--   * ids of users and channels derive from their ordinal (a v4-shaped md5), chat lines
--     come from a pool of a few thousand phrases.

-- ===========================================================================
-- @phase setup each-lane
-- Session settings, parameters, helper functions and pools (every lane).
-- ===========================================================================
SET session_replication_role = replica;
SET synchronous_commit = off;
SET jit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '128MB';

DROP TABLE IF EXISTS pg_temp.demo_params;
CREATE TEMP TABLE demo_params AS
SELECT s AS scale,
       greatest(20, round(5000 * s))::int AS n_users,
       greatest(6, round(300 * s))::int AS n_channels,
       greatest(300, round(300000 * s))::int AS n_messages,
       now() AS t_now,
       coalesce(nullif(current_setting('nchat_demo.lane', true), ''), '0')::int AS lane,
       coalesce(nullif(current_setting('nchat_demo.lanes', true), ''), '1')::int AS lanes
  FROM (SELECT coalesce(nullif(current_setting('nchat_demo.scale', true), ''), '1.0')::numeric
                 AS s) x;

SELECT setseed(0.4242 - 0.5 * lane) FROM demo_params;

-- A stable v4-shaped uuid for (kind, ordinal).
CREATE OR REPLACE FUNCTION pg_temp.demo_uuid(kind TEXT, n BIGINT) RETURNS UUID
LANGUAGE sql STABLE AS
$$ SELECT overlay(overlay(md5(kind || ':' || n) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid $$;

CREATE OR REPLACE FUNCTION pg_temp.demo_first(n BIGINT) RETURNS TEXT
LANGUAGE sql STABLE AS
$$ SELECT (ARRAY['Ada','Ben','Chloe','Dmitri','Elena','Farid','Grace','Hiro','Ines','Jonas',
                 'Kemi','Liam','Maya','Nikhil','Olga','Pedro','Quinn','Rosa','Sami','Tara',
                 'Umar','Vera','Wei','Ximena','Yusuf','Zoe','Aiko','Bruno','Carla','Diego',
                 'Emma','Felix','Greta','Hana','Ivan','Julia','Kai','Lena','Marco','Nora'])
          [1 + (n % 40)::int] $$;

CREATE OR REPLACE FUNCTION pg_temp.demo_last(n BIGINT) RETURNS TEXT
LANGUAGE sql STABLE AS
$$ SELECT (ARRAY['Smith','Garcia','Nguyen','Kowalski','Okafor','Rossi','Tanaka','Silva',
                 'Muller','Haddad','Johansson','Kim','Patel','Novak','Dubois','Lopez','Ivanova',
                 'Chen','Murphy','Schmidt','Costa','Yilmaz','Andersen','Moreau','Fischer',
                 'Santos','Ali','Kaur','Brown','Wilson','Jensen','Sato','Romero','Weber',
                 'Horvat','Mensah','Park','Popescu','Larsen','Reyes'])
          [1 + ((n / 40) % 40)::int] $$;

CREATE OR REPLACE FUNCTION pg_temp.demo_username(n BIGINT) RETURNS TEXT
LANGUAGE sql STABLE AS
$$ SELECT lower(pg_temp.demo_first(n - 1)) || '.' || lower(pg_temp.demo_last(n - 1))
          || CASE WHEN n > 1600 THEN (n / 1600)::text ELSE '' END $$;

-- When user n (1-based, of u users) signed up: spread over 240..40 days ago.
CREATE OR REPLACE FUNCTION pg_temp.demo_user_created(n BIGINT, u INT, t TIMESTAMPTZ)
RETURNS TIMESTAMPTZ LANGUAGE sql STABLE AS
$$ SELECT t - INTERVAL '240 days'
          + ((n::float8 / u) * 200 * 86400 + (n * 7919) % 86400) * INTERVAL '1 second' $$;

-- The j-th member (0-based) of channel c is user demo_member(c, j, u): a stride walk over
-- the users, so members are distinct and every channel has a different crowd.
CREATE OR REPLACE FUNCTION pg_temp.demo_member(c BIGINT, j BIGINT, u INT) RETURNS BIGINT
LANGUAGE sql STABLE AS
$$ SELECT 1 + ((c * 7919 + j * CASE WHEN u % 104729 = 0 THEN 1299709 ELSE 104729 END) % u) $$;

-- A plausible chat line from three seeds.
CREATE OR REPLACE FUNCTION pg_temp.demo_line(a BIGINT, b BIGINT, d BIGINT) RETURNS TEXT
LANGUAGE sql STABLE AS
$$ SELECT btrim(
     (ARRAY['Hey team,','Quick question:','FYI','Heads up:','','Update:','Has anyone looked at',
            'Can someone review','Thanks for fixing','I think','Reminder:','Looks like',
            'Just merged a fix for','Following up on','Any idea why','+1 on'])[1 + (a % 16)::int]
     || ' ' ||
     (ARRAY['the deploy pipeline','the login page','the release notes','the staging database',
            'the push notifications','PR #' || (1200 + b % 800),'the onboarding flow',
            'the search results','the flaky test in CI','the Q3 roadmap',
            'the incident from yesterday','the new design mockups','the billing webhook',
            'the API rate limits','the customer call notes','the nightly backup job',
            'the dark mode toggle','the emoji picker','the channel sidebar',
            'the Postgres upgrade','the on-call rotation','the docs site',
            'the load test results','the migration plan'])[1 + (b % 24)::int]
     ||
     (ARRAY['?','.',' - looks good to me.',' is failing again.',' is ready for review.',
            ', can we sync later today?',' 🎉',' - see thread.',' needs another pass.',
            ' shipped!',' is blocked on legal.',', thoughts?',' works on my machine.',
            ' is taking longer than expected.',' LGTM',' :+1:'])[1 + (d % 16)::int]) $$;

CREATE OR REPLACE FUNCTION pg_temp.demo_reply(a BIGINT, b BIGINT) RETURNS TEXT
LANGUAGE sql STABLE AS
$$ SELECT (ARRAY['Agreed.','On it.','Done ✅','I can take a look after lunch.',
                 'Which environment?','Fixed in the latest build.','Can you share the logs?',
                 'Same here.','Thanks!','Let me check with the team.','Reverted for now.',
                 'Good catch 👀','Ship it.','Not reproducible on my side.',
                 'Opened a ticket for this.','Works now, thanks!'])[1 + (a % 16)::int]
          || CASE WHEN b % 3 = 0 THEN ' ' || pg_temp.demo_line(b, a, b + a) ELSE '' END $$;

-- Pools of chat lines: every opener x topic x ending, and replies.
DROP TABLE IF EXISTS pg_temp.demo_lines;

CREATE TEMP TABLE demo_lines AS
SELECT k, pg_temp.demo_line(k % 16, (k / 16) % 24 + 24 * (k % 37), k / 384) AS line
  FROM generate_series(0, 6143) k;

DROP TABLE IF EXISTS pg_temp.demo_replies;

CREATE TEMP TABLE demo_replies AS
SELECT k, pg_temp.demo_reply(k, k / 16 + 7 * (k % 5)) AS line
  FROM generate_series(0, 1023) k;

ANALYZE demo_lines;

ANALYZE demo_replies;

-- Users by ordinal (deterministic: every lane computes the same table).
DROP TABLE IF EXISTS pg_temp.demo_users;
CREATE TEMP TABLE demo_users AS
SELECT n,
       pg_temp.demo_uuid('user', n) AS id,
       CASE WHEN n > p.n_users - 5
            THEN (ARRAY['deploy-bot','standup-bot','github-bot','pager-bot','welcome-bot'])
                 [(p.n_users - n + 1)::int]
            ELSE pg_temp.demo_username(n) END AS username,
       CASE WHEN n > p.n_users - 5
            THEN initcap(replace((ARRAY['deploy-bot','standup-bot','github-bot','pager-bot',
                                        'welcome-bot'])[(p.n_users - n + 1)::int], '-', ' '))
            ELSE pg_temp.demo_first(n - 1) || ' ' || pg_temp.demo_last(n - 1) END AS display_name,
       n > p.n_users - 5 AS is_bot,
       pg_temp.demo_user_created(n, p.n_users, p.t_now) AS created_at,
       CASE WHEN n % 50 = 17 THEN pg_temp.demo_user_created(n, p.n_users, p.t_now)
                                  + (20 + n % 30) * INTERVAL '1 day' END AS deleted_at,
       CASE WHEN n % 50 = 17 THEN 'inactive'
            WHEN n % 97 = 5 THEN 'suspended'
            WHEN n % 113 = 3 THEN 'pending_verification'
            ELSE 'active' END::user_status AS status,
       (n <= 3 OR n % 500 = 0) AS is_admin
  FROM demo_params p, generate_series(1, p.n_users) n;
ANALYZE demo_users;

-- Channels: shape (type, crowd size, traffic weight, lifetime) per ordinal.
DROP TABLE IF EXISTS pg_temp.demo_channels;
CREATE TEMP TABLE demo_channels AS
WITH base AS (
  SELECT c,
         CASE WHEN c <= 3 THEN 'public'
              WHEN (c * 2654435761) % 100 < 22 THEN 'direct'
              WHEN (c * 2654435761) % 100 < 30 THEN 'group'
              WHEN (c * 2654435761) % 100 < 50 THEN 'private'
              ELSE 'public' END::channel_type AS type,
         CASE WHEN c % 10 = 0 THEN 2 ELSE 1 END AS ws,
         p.n_users, p.t_now, p.n_channels
    FROM demo_params p, generate_series(1, p.n_channels) c
), shaped AS (
  SELECT b.*,
         CASE WHEN b.c = 1 THEN b.n_users
              WHEN b.type = 'direct' THEN 2
              WHEN b.type = 'group' THEN 3 + b.c % 6
              WHEN b.type = 'private' THEN least(b.n_users, 5 + (b.c * 31) % 40)
              ELSE least(b.n_users, greatest(8, floor(b.n_users * 0.5 / power(b.c, 0.75))))
         END::int AS members,
         CASE WHEN b.c = 3 THEN 0.02
              WHEN b.type = 'public' THEN 1.0 / power(b.c, 0.8)
              WHEN b.type = 'private' THEN 0.5 / power(b.c, 0.55)
              WHEN b.type = 'group' THEN 0.25 / power(b.c, 0.45)
              ELSE 0.12 / power(b.c, 0.35) END AS weight,
         CASE WHEN b.c <= 3 THEN b.t_now - INTERVAL '238 days'
              ELSE b.t_now - INTERVAL '230 days'
                   + (b.c::float8 / b.n_channels * 170 + (b.c * 7) % 20) * INTERVAL '1 day'
         END AS created_at
    FROM base b
)
SELECT s.c, pg_temp.demo_uuid('channel', s.c) AS id, s.ws, s.type, s.members, s.weight,
       s.created_at,
       CASE WHEN s.c > 3 AND s.type IN ('public', 'private')
                 AND (s.c = 4 OR (s.c * 40503) % 100 < 7)
            THEN s.created_at + (s.t_now - s.created_at) * 0.6 END AS archived_at,
       CASE s.type
         WHEN 'direct' THEN 'dm-' || s.c
         WHEN 'group' THEN 'group-' || s.c
         ELSE coalesce((ARRAY['general','random','announcements','engineering','design',
                              'product','support','sales','marketing','ops','incidents',
                              'deploys','frontend','backend','mobile','data','security',
                              'hiring','social','watercooler','qa','docs','growth','finance',
                              'legal','infra','releases','random-tech','books','music'])[s.c],
                       (ARRAY['proj','team','help','ext','topic','squad'])[1 + s.c % 6] || '-'
                       || (ARRAY['atlas','borealis','comet','delta','ember','falcon','gecko',
                                 'harbor','iris','juniper','kestrel','lumen','monsoon',
                                 'nimbus','orbit','pulsar','quartz','raven','sierra',
                                 'tundra'])[1 + (s.c / 6) % 20] || '-' || s.c)
       END AS name
  FROM shaped s;
ALTER TABLE demo_channels ADD COLUMN msgs INT;
UPDATE demo_channels d
   SET msgs = greatest(1, round(p.n_messages * 0.9 * d.weight / t.total))::int
  FROM demo_params p, (SELECT sum(weight) AS total FROM demo_channels) t;
ANALYZE demo_channels;

-- The plain (non-constraint) indexes of the nchat tables, to drop now and rebuild at the end.
DROP TABLE IF EXISTS pg_temp.demo_saved_indexes;
CREATE TEMP TABLE demo_saved_indexes AS
SELECT ic.relname AS index_name, pg_get_indexdef(i.indexrelid) AS definition,
       row_number() OVER (ORDER BY t.relname, ic.relname) AS ord
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = 'public' AND t.relname LIKE 'nchat\_%' AND t.relkind = 'r'
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);

-- ===========================================================================
-- @phase prepare lane-0
-- Drop the plain indexes (rebuilt in phase finish).
-- ===========================================================================
DO $$
DECLARE
  ix RECORD;
BEGIN
  FOR ix IN SELECT index_name FROM demo_saved_indexes LOOP
    EXECUTE format('DROP INDEX public.%I', ix.index_name);
  END LOOP;
END;
$$;

-- ===========================================================================
-- @phase load lane-0
-- Users, workspaces, channels, memberships (the user-side tables in lane 1); messages in
-- every lane.
-- ===========================================================================
-- ---------------------------------------------------------------------------
-- Users: auth.users (hasura-auth) and nchat_users share the id
-- ---------------------------------------------------------------------------
-- @lane 1
INSERT INTO auth.users (id, created_at, updated_at, last_seen, disabled, display_name, email,
                        password_hash, email_verified, default_role, locale, metadata)
SELECT u.id, u.created_at, u.created_at, p.t_now - (u.n % 900) * INTERVAL '1 hour',
       u.deleted_at IS NOT NULL OR u.status = 'suspended', u.display_name,
       u.username || '@' || CASE WHEN u.is_bot THEN 'bots.' ELSE '' END || 'acme.example',
       CASE WHEN u.is_bot THEN NULL
            ELSE '$2a$10$' || substr(md5('pw' || u.n) || md5('salt' || u.n), 1, 53) END,
       u.status <> 'pending_verification', 'user', 'en', '{}'::jsonb
  FROM demo_users u, demo_params p;

INSERT INTO nchat_users (id, auth_user_id, username, email, display_name, avatar_url, status,
                         is_bot, is_admin, timezone, locale, last_seen_at, created_at,
                         updated_at, deleted_at)
SELECT u.id, u.id, u.username,
       u.username || '@' || CASE WHEN u.is_bot THEN 'bots.' ELSE '' END || 'acme.example',
       u.display_name,
       CASE WHEN u.n % 4 <> 0 THEN 'https://cdn.acme.example/avatars/' || u.n || '.png' END,
       u.status, u.is_bot, u.is_admin,
       (ARRAY['UTC','Europe/Berlin','America/New_York','America/Los_Angeles','Asia/Tokyo',
              'Europe/London','Asia/Kolkata','America/Sao_Paulo'])[1 + u.n % 8],
       (ARRAY['en','en','en','de','fr','es','ja','pt'])[1 + (u.n / 3) % 8],
       coalesce(u.deleted_at, p.t_now - ((u.n * 37) % 2000) * INTERVAL '1 hour'),
       u.created_at, coalesce(u.deleted_at, u.created_at + (u.n % 60) * INTERVAL '1 day'),
       u.deleted_at
  FROM demo_users u, demo_params p;

-- @lane 1
INSERT INTO nchat_profiles (user_id, bio, title, pronouns, location, custom_status,
                            custom_status_emoji, created_at, updated_at)
SELECT u.id,
       CASE WHEN u.n % 3 = 0 THEN 'Working on ' || lower(pg_temp.demo_line(u.n, u.n * 3, 1)) END,
       (ARRAY['Software Engineer','Product Manager','Designer','Support Lead','SRE',
              'Data Analyst','Engineering Manager','Marketing','Sales','QA Engineer'])
           [1 + u.n % 10],
       (ARRAY[NULL,'she/her','he/him','they/them'])[1 + u.n % 4],
       (ARRAY['Berlin','New York','Lisbon','Tokyo','Remote','London','Bangalore','Sao Paulo'])
           [1 + (u.n / 7) % 8],
       CASE WHEN u.n % 11 = 0 THEN (ARRAY['In a meeting','Out sick','Focusing','On vacation'])
                                   [1 + (u.n / 11) % 4] END,
       CASE WHEN u.n % 11 = 0 THEN (ARRAY['📅','🤒','🎧','🌴'])[1 + (u.n / 11) % 4] END,
       u.created_at, u.created_at
  FROM demo_users u;

-- @lane 1
INSERT INTO nchat_presence (user_id, status, last_active_at, device, updated_at)
SELECT u.id,
       CASE WHEN u.deleted_at IS NOT NULL THEN 'offline'
            WHEN u.n % 10 = 1 THEN 'online' WHEN u.n % 20 = 2 THEN 'away'
            WHEN u.n % 33 = 3 THEN 'busy' ELSE 'offline' END::presence_status,
       p.t_now - ((u.n * 13) % 5000) * INTERVAL '1 minute',
       (ARRAY['web','desktop','ios','android'])[1 + u.n % 4],
       p.t_now - ((u.n * 13) % 5000) * INTERVAL '1 minute'
  FROM demo_users u, demo_params p;

-- @lane 1
INSERT INTO nchat_user_settings (user_id, theme, compact_mode, show_presence, updated_at)
SELECT u.id, (ARRAY['light','dark','system'])[1 + u.n % 3], u.n % 9 = 0, u.n % 17 <> 0,
       u.created_at
  FROM demo_users u;

-- @lane 1
INSERT INTO nchat_sessions (user_id, device_name, platform, ip_address, user_agent, created_at,
                            last_active_at, expires_at, revoked_at)
SELECT u.id, (ARRAY['MacBook Pro','iPhone','Pixel 8','Work laptop','Firefox on Linux'])
                 [1 + (u.n + k) % 5],
       (ARRAY['web','ios','android','desktop'])[1 + (u.n + k) % 4],
       ('10.' || (u.n % 250) || '.' || (k * 17 % 250) || '.' || (u.n * 7 % 250))::inet,
       'nChat/0.3.0', p.t_now - ((u.n + k * 11) % 60) * INTERVAL '1 day',
       p.t_now - ((u.n * k) % 700) * INTERVAL '1 hour',
       p.t_now + (30 - (u.n + k * 11) % 60) * INTERVAL '1 day',
       CASE WHEN k = 3 THEN p.t_now - (u.n % 20) * INTERVAL '1 day' END
  FROM demo_users u, demo_params p, generate_series(1, 1 + (u.n % 3)::int) k
 WHERE u.deleted_at IS NULL AND NOT u.is_bot;

-- ---------------------------------------------------------------------------
-- Workspaces, roles, categories
-- ---------------------------------------------------------------------------
INSERT INTO nchat_workspaces (id, name, slug, description, owner_id, settings, created_at,
                              updated_at)
SELECT pg_temp.demo_uuid('workspace', w), (ARRAY['Acme','Acme Labs'])[w],
       (ARRAY['acme','acme-labs'])[w],
       (ARRAY['Everything Acme','Experiments and prototypes'])[w],
       pg_temp.demo_uuid('user', w), '{"allow_guests": true}'::jsonb,
       p.t_now - INTERVAL '241 days' + (w - 1) * INTERVAL '60 days',
       p.t_now - INTERVAL '30 days'
  FROM demo_params p, generate_series(1, 2) w;

INSERT INTO nchat_roles (id, workspace_id, name, description, color, position, is_default,
                         created_at)
SELECT pg_temp.demo_uuid('role', w * 10 + r), pg_temp.demo_uuid('workspace', w),
       (ARRAY['Admin','Moderator','Member','Guest'])[r],
       (ARRAY['Full access','Can manage messages and members','Default role',
              'Limited access'])[r],
       (ARRAY['#e5484d','#f76b15','#30a46c','#8b8d98'])[r], 5 - r, r = 3,
       p.t_now - INTERVAL '240 days'
  FROM demo_params p, generate_series(1, 2) w, generate_series(1, 4) r;

INSERT INTO nchat_permissions (role_id, permission, created_at)
SELECT pg_temp.demo_uuid('role', w * 10 + r), perm, p.t_now - INTERVAL '240 days'
  FROM demo_params p, generate_series(1, 2) w, generate_series(1, 4) r,
       unnest(ARRAY['message.send','message.react','channel.join','channel.create',
                    'message.delete_any','member.kick','channel.archive','workspace.manage',
                    'billing.manage']) WITH ORDINALITY AS pm(perm, o)
 WHERE (r = 1) OR (r = 2 AND o <= 7) OR (r = 3 AND o <= 4) OR (r = 4 AND o <= 2);

INSERT INTO nchat_categories (id, workspace_id, name, position, created_at)
SELECT pg_temp.demo_uuid('category', w * 10 + k), pg_temp.demo_uuid('workspace', w),
       (ARRAY['Channels','Engineering','Teams','Social'])[k], k, p.t_now - INTERVAL '239 days'
  FROM demo_params p, generate_series(1, 2) w, generate_series(1, 4) k;

-- ---------------------------------------------------------------------------
-- Channels and memberships
-- ---------------------------------------------------------------------------
INSERT INTO nchat_channels (id, workspace_id, category_id, name, slug, description, topic, type,
                            is_default, is_archived, archived_at, archived_by, created_by,
                            member_count, settings, created_at, updated_at)
SELECT d.id, pg_temp.demo_uuid('workspace', d.ws),
       CASE WHEN d.type IN ('direct', 'group') THEN NULL
            ELSE pg_temp.demo_uuid('category', d.ws * 10 + 1 + d.c % 4) END,
       d.name, d.name,
       CASE WHEN d.type IN ('public', 'private') THEN 'Discussion about ' || d.name END,
       CASE WHEN d.c % 5 = 0 THEN pg_temp.demo_line(d.c, d.c * 7, d.c * 3) END,
       d.type, d.c <= 2, d.archived_at IS NOT NULL, d.archived_at,
       CASE WHEN d.archived_at IS NOT NULL THEN pg_temp.demo_uuid('user', 1) END,
       pg_temp.demo_uuid('user', pg_temp.demo_member(d.c, 0, p.n_users)),
       d.members,
       CASE WHEN d.c = 3 THEN '{"posting": "admins"}'::jsonb ELSE '{}'::jsonb END,
       d.created_at, coalesce(d.archived_at, d.created_at)
  FROM demo_channels d, demo_params p;

INSERT INTO nchat_channel_members (channel_id, user_id, role, notification_level, is_muted,
                                   is_starred, last_read_at, joined_at)
SELECT d.id, u.id,
       CASE WHEN j = 0 THEN 'owner' WHEN j < 3 AND d.members > 20 THEN 'admin'
            WHEN j < 6 AND d.members > 100 THEN 'moderator' ELSE 'member' END::member_role,
       (ARRAY['all','all','all','mentions','none'])[1 + (j * 7 + d.c) % 5],
       (j * 13 + d.c) % 29 = 0, (j * 3 + d.c) % 17 = 0,
       p.t_now - ((j * 31 + d.c) % 400) * INTERVAL '1 hour',
       greatest(d.created_at, u.created_at) + ((j * 17) % 72) * INTERVAL '1 hour'
  FROM demo_channels d
  CROSS JOIN demo_params p
  CROSS JOIN LATERAL generate_series(0, d.members - 1) j
  JOIN demo_users u ON u.n = pg_temp.demo_member(d.c, j, p.n_users);

-- ---------------------------------------------------------------------------
-- Messages (top level). Authors: members, skewed to the first few of each channel.
-- Each lane writes the channels c with c % lanes = lane.
-- ---------------------------------------------------------------------------
-- @each-lane
INSERT INTO nchat_messages (id, channel_id, user_id, type, content, content_plain, metadata,
                            mentions, is_edited, edited_at, is_pinned, is_deleted, deleted_at,
                            deleted_by, reaction_count, reply_count, created_at, updated_at)
SELECT s.id, s.channel_id, au.id, s.type,
       CASE s.type
         WHEN 'system' THEN au.username || ' joined #' || s.cname
         WHEN 'code' THEN E'```sql\nSELECT count(*) FROM events WHERE day = current_date - '
                          || (s.i % 9) || E';\n```'
         WHEN 'image' THEN 'screenshot-' || s.i || '.png'
         WHEN 'file' THEN (ARRAY['report','invoice','notes','design','export'])[1 + s.i % 5]
                          || '-' || s.i || '.pdf'
         WHEN 'audio' THEN 'voice-note-' || s.i || '.ogg'
         WHEN 'poll' THEN 'Poll: ' || l.line
         ELSE coalesce('@' || mu.username || ' ', '') || l.line
       END,
       CASE s.type
         WHEN 'code' THEN 'SELECT count(*) FROM events WHERE day = current_date - ' || (s.i % 9)
         WHEN 'text' THEN l.line
       END,
       CASE WHEN s.r3 < 0.5 THEN '{"client": "web"}'::jsonb
            WHEN s.r3 < 0.8 THEN '{"client": "desktop"}'::jsonb
            ELSE '{"client": "mobile"}'::jsonb END,
       CASE WHEN mu.id IS NOT NULL THEN ARRAY[mu.id] ELSE '{}'::uuid[] END,
       s.r4 >= 0.03 AND s.r4 < 0.07,
       CASE WHEN s.r4 >= 0.03 AND s.r4 < 0.07 THEN s.ts + (s.i % 90) * INTERVAL '1 minute' END,
       NOT s.deleted AND (s.i * 17 + s.c) % 499 = 0,
       s.deleted,
       CASE WHEN s.deleted THEN s.ts + (5 + s.i % 300) * INTERVAL '1 minute' END,
       CASE WHEN s.deleted THEN au.id END,
       CASE WHEN s.deleted THEN 0
            ELSE least(s.members, 10,
                       CASE WHEN s.r5 < 0.84 THEN 0 WHEN s.r5 < 0.93 THEN 1
                            WHEN s.r5 < 0.97 THEN 2 WHEN s.r5 < 0.99 THEN 3
                            ELSE 4 + (s.i % 7) END) END,
       CASE WHEN NOT s.deleted AND s.type <> 'system' AND s.r6 < 0.035
            THEN 1 + floor(11 * s.r7 * s.r7)::int ELSE 0 END,
       greatest(s.ts, au.created_at + INTERVAL '1 hour'),
       greatest(s.ts, au.created_at + INTERVAL '1 hour')
  FROM (
    SELECT gen_random_uuid() AS id, d.c, d.id AS channel_id, d.name AS cname, d.members, g.i,
           pg_temp.demo_member(d.c, floor(d.members * r.r1 * r.r1)::bigint, p.n_users)
             AS author,
           CASE WHEN r.r4 < 0.03 AND d.members > 1
                THEN pg_temp.demo_member(d.c, (floor(d.members * r.r1 * r.r1)::bigint + 1)
                                              % d.members, p.n_users) END AS mention,
           CASE WHEN r.r3 < 0.90 THEN 'text' WHEN r.r3 < 0.93 THEN 'image'
                WHEN r.r3 < 0.955 THEN 'file' WHEN r.r3 < 0.97 THEN 'code'
                WHEN r.r3 < 0.98 THEN 'system' WHEN r.r3 < 0.99 THEN 'poll'
                ELSE 'audio' END::message_type AS type,
           (g.i * 31 + d.c) % 83 = 0 AS deleted,
           d.created_at + (coalesce(d.archived_at, p.t_now) - d.created_at) * sqrt(r.r2) AS ts,
           ((g.i * 7919 + d.c * 131) % 6144)::int AS lk,
           r.r3, r.r4,
           ((g.i * 2654435761 + d.c * 97) % 10007)::float8 / 10007 AS r5,
           ((g.i * 40503 + d.c * 7) % 10009)::float8 / 10009 AS r6,
           ((g.i * 69069 + d.c * 13) % 10037)::float8 / 10037 AS r7
      FROM demo_channels d
      CROSS JOIN demo_params p
      -- bigint: g.i * 69069 passes 2^31 once a channel holds 31,092 messages (scale 2)
      CROSS JOIN LATERAL generate_series(1, d.msgs::bigint) g(i)
      CROSS JOIN LATERAL (SELECT random() + 0 * g.i AS r1, random() + 0 * g.i AS r2,
                                 random() + 0 * g.i AS r3, random() + 0 * g.i AS r4) r
     WHERE d.c % p.lanes = p.lane
    OFFSET 0  -- evaluate random() once per row: a flattened subquery would re-roll it
  ) s
  JOIN demo_lines l ON l.k = s.lk
  JOIN demo_users au ON au.n = s.author
  LEFT JOIN demo_users mu ON mu.n = s.mention
 -- sorted ids append to the primary key instead of inserting at random: much faster
 ORDER BY s.id;

-- ===========================================================================
-- @phase derive lane-0
-- Threads, replies, reactions, attachments, notifications, the rest (two lanes).
-- ===========================================================================
-- ---------------------------------------------------------------------------
-- Threads and their replies (reply_count on the root says how many)
-- ---------------------------------------------------------------------------
INSERT INTO nchat_threads (channel_id, parent_message_id, created_by, reply_count,
                           participant_count, last_reply_at, created_at, updated_at)
SELECT m.channel_id, m.id, m.user_id, m.reply_count, 0, NULL, m.created_at, m.created_at
  FROM nchat_messages m
 WHERE m.reply_count > 0;

INSERT INTO nchat_messages (channel_id, user_id, thread_id, parent_message_id, type, content,
                            content_plain, metadata, reaction_count, created_at, updated_at)
SELECT s.channel_id, u.id, s.thread_id, s.parent_message_id, 'text', r.line, r.line,
       '{"client": "web"}'::jsonb,
       CASE WHEN s.k % 9 = 0 AND s.members > 1 THEN 1 ELSE 0 END,
       greatest(s.ts, u.created_at), greatest(s.ts, u.created_at)
  FROM (
    SELECT t.channel_id, t.id AS thread_id, t.parent_message_id, d.members, k,
           pg_temp.demo_member(d.c, (t.h + k * 3) % d.members, p.n_users) AS author,
           ((t.h + k * 131) % 1024)::int AS rk,
           least(p.t_now, t.created_at + k * ((t.h % 40) + 2) * INTERVAL '1 minute') AS ts
      FROM (SELECT t.*, abs(hashtext(t.id::text))::bigint AS h FROM nchat_threads t) t
      JOIN demo_channels d ON d.id = t.channel_id
      CROSS JOIN demo_params p
      CROSS JOIN LATERAL generate_series(1, t.reply_count) k
  ) s
  JOIN demo_replies r ON r.k = s.rk
  JOIN demo_users u ON u.n = s.author;

INSERT INTO nchat_thread_members (thread_id, user_id, last_read_at, joined_at)
SELECT x.thread_id, x.user_id, max(x.ts), min(x.ts)
  FROM (SELECT t.id AS thread_id, t.created_by AS user_id, t.created_at AS ts
          FROM nchat_threads t
        UNION ALL
        SELECT m.thread_id, m.user_id, m.created_at
          FROM nchat_messages m WHERE m.thread_id IS NOT NULL) x
 WHERE x.user_id IS NOT NULL
 GROUP BY x.thread_id, x.user_id;

UPDATE nchat_threads t
   SET last_reply_at = a.last_reply_at, participant_count = a.participants,
       updated_at = a.last_reply_at
  FROM (SELECT m.thread_id, max(m.created_at) AS last_reply_at,
               count(DISTINCT m.user_id) + 1 AS participants
          FROM nchat_messages m WHERE m.thread_id IS NOT NULL GROUP BY m.thread_id) a
 WHERE a.thread_id = t.id;

-- Reactions on thread replies (the replies exist only from here on).
INSERT INTO nchat_reactions (message_id, user_id, emoji, created_at)
SELECT x.id, u.id,
       (ARRAY['👍','❤️','😂','🎉','👀','🚀','✅','🙏','🔥','😮','💯','🤔'])[1 + (x.h + x.k) % 12],
       least(x.t_now, x.created_at + x.k * INTERVAL '3 minutes')
  FROM (SELECT m.id, m.created_at, h.h, k, p.t_now,
               pg_temp.demo_member(d.c, (h.h + k * 7) % d.members, p.n_users) AS who
          FROM nchat_messages m
          CROSS JOIN LATERAL (SELECT abs(hashtext(m.id::text))::bigint AS h) h
          JOIN demo_channels d ON d.id = m.channel_id
          CROSS JOIN demo_params p
          CROSS JOIN LATERAL generate_series(1, m.reaction_count) k
         WHERE m.reaction_count > 0 AND m.thread_id IS NOT NULL) x
  JOIN demo_users u ON u.n = x.who
 ORDER BY x.id, x.k;

-- Reply notifications to the thread's author (last 60 days).
INSERT INTO nchat_notifications (user_id, type, actor_id, channel_id, message_id, title, body,
                                 is_read, read_at, created_at)
SELECT root.user_id, 'reply', r.user_id, r.channel_id, r.id, 'New reply in a thread',
       left(r.content, 120), r.created_at < p.t_now - INTERVAL '7 days',
       CASE WHEN r.created_at < p.t_now - INTERVAL '7 days'
            THEN r.created_at + INTERVAL '1 day' END,
       r.created_at
  FROM nchat_messages r
  JOIN nchat_messages root ON root.id = r.parent_message_id
  CROSS JOIN demo_params p
 WHERE r.parent_message_id IS NOT NULL AND root.user_id IS DISTINCT FROM r.user_id
   AND root.user_id IS NOT NULL AND r.created_at > p.t_now - INTERVAL '60 days';

-- ---------------------------------------------------------------------------
-- Counters the triggers would have kept
-- ---------------------------------------------------------------------------
UPDATE nchat_channels c
   SET last_message_at = a.last_at, member_count = coalesce(mc.n, 0)
  FROM (SELECT channel_id, max(created_at) AS last_at FROM nchat_messages
         GROUP BY channel_id) a
  FULL JOIN (SELECT channel_id, count(*) AS n FROM nchat_channel_members
              GROUP BY channel_id) mc USING (channel_id)
 WHERE c.id = coalesce(a.channel_id, mc.channel_id);

UPDATE nchat_channel_members cm
   SET last_read_at = least(cm.last_read_at, c.last_message_at)
  FROM nchat_channels c
 WHERE c.id = cm.channel_id AND c.last_message_at IS NOT NULL
   AND cm.last_read_at > c.last_message_at;

-- ---------------------------------------------------------------------------
-- Lane 1 meanwhile: reactions on top-level messages (reaction_count per message says
-- how many; distinct (user, emoji) each), files, pins, bookmarks and the small tables
-- ---------------------------------------------------------------------------
-- @lane 1
INSERT INTO nchat_reactions (message_id, user_id, emoji, created_at)
SELECT x.id, u.id,
       (ARRAY['👍','❤️','😂','🎉','👀','🚀','✅','🙏','🔥','😮','💯','🤔'])[1 + (x.h + x.k) % 12],
       least(x.t_now, x.created_at + x.k * INTERVAL '3 minutes')
  FROM (SELECT m.id, m.created_at, h.h, k, p.t_now,
               pg_temp.demo_member(d.c, (h.h + k * 7) % d.members, p.n_users) AS who
          FROM nchat_messages m
          CROSS JOIN LATERAL (SELECT abs(hashtext(m.id::text))::bigint AS h) h
          JOIN demo_channels d ON d.id = m.channel_id
          CROSS JOIN demo_params p
          CROSS JOIN LATERAL generate_series(1, m.reaction_count) k
         WHERE m.reaction_count > 0 AND m.thread_id IS NULL) x
  JOIN demo_users u ON u.n = x.who
 ORDER BY x.id, x.k;

-- @lane 1
WITH f AS (
  INSERT INTO storage.files (created_at, updated_at, bucket_id, name, size, mime_type, etag,
                             is_uploaded, uploaded_by_user_id)
  SELECT m.created_at, m.created_at, 'default', m.content,
         CASE m.type WHEN 'image' THEN 40000 + h.h % 2000000
                     WHEN 'audio' THEN 200000 + h.h % 5000000
                     ELSE 10000 + h.h % 8000000 END,
         CASE m.type WHEN 'image' THEN 'image/png' WHEN 'audio' THEN 'audio/ogg'
                     ELSE 'application/pdf' END,
         -- an ETag-shaped 32-hex value; here it also carries the message id to the next step
         '"' || replace(m.id::text, '-', '') || '"', TRUE, m.user_id
    FROM nchat_messages m
    CROSS JOIN LATERAL (SELECT abs(hashtext(m.id::text))::bigint AS h) h
   WHERE m.type IN ('image', 'file', 'audio')
  RETURNING id, name, size, mime_type, etag, uploaded_by_user_id, created_at
)
INSERT INTO nchat_attachments (message_id, uploaded_by, file_id, type, file_name, mime_type,
                               size_bytes, width, height, duration_ms, url, thumbnail_url,
                               created_at)
SELECT translate(f.etag, '"', '')::uuid, f.uploaded_by_user_id, f.id,
       CASE f.mime_type WHEN 'image/png' THEN 'image' WHEN 'audio/ogg' THEN 'audio'
                        ELSE 'document' END::attachment_type,
       f.name, f.mime_type, f.size,
       CASE WHEN f.mime_type = 'image/png' THEN 1280 END,
       CASE WHEN f.mime_type = 'image/png' THEN 720 END,
       CASE WHEN f.mime_type = 'audio/ogg' THEN 3000 + f.size % 90000 END,
       'https://storage.acme.example/v1/files/' || f.id,
       CASE WHEN f.mime_type = 'image/png'
            THEN 'https://storage.acme.example/v1/files/' || f.id || '?w=320' END,
       f.created_at
  FROM f;

-- @lane 1
-- Mention notifications (top-level messages only).
INSERT INTO nchat_notifications (user_id, type, actor_id, channel_id, message_id, title, body,
                                 is_read, read_at, created_at)
SELECT m.mentions[1], 'mention', m.user_id, m.channel_id, m.id, 'You were mentioned',
       left(m.content, 120), m.created_at < p.t_now - INTERVAL '3 days',
       CASE WHEN m.created_at < p.t_now - INTERVAL '3 days'
            THEN m.created_at + INTERVAL '5 hours' END,
       m.created_at
  FROM nchat_messages m, demo_params p
 WHERE cardinality(m.mentions) > 0;

-- @lane 1
INSERT INTO nchat_pinned_messages (channel_id, message_id, pinned_by, pinned_at)
SELECT m.channel_id, m.id, m.user_id, m.created_at + INTERVAL '2 hours'
  FROM nchat_messages m
 WHERE m.is_pinned;

-- @lane 1
INSERT INTO nchat_bookmarks (user_id, message_id, note, created_at)
SELECT pg_temp.demo_uuid('user', pg_temp.demo_member(
         d.c, (abs(hashtext(m.id::text)) + 5) % d.members, p.n_users)),
       m.id, CASE WHEN abs(hashtext(m.id::text)) % 3 = 0 THEN 'follow up' END,
       m.created_at + INTERVAL '1 hour'
  FROM nchat_messages m
  JOIN demo_channels d ON d.id = m.channel_id
  CROSS JOIN demo_params p
 WHERE abs(hashtext(m.id::text)) % 97 = 0 AND NOT m.is_deleted;

-- @lane 1
INSERT INTO nchat_drafts (user_id, channel_id, content, updated_at)
SELECT u.id, pg_temp.demo_uuid('channel', 1 + u.n % 2), pg_temp.demo_line(u.n, u.n * 5, 4),
       p.t_now - (u.n % 72) * INTERVAL '1 hour'
  FROM demo_users u, demo_params p
 WHERE u.n % 20 = 0 AND u.deleted_at IS NULL;

-- @lane 1
INSERT INTO nchat_push_subscriptions (user_id, endpoint, p256dh, auth, platform, created_at,
                                      last_used_at)
SELECT u.id, 'https://push.acme.example/send/' || md5('push' || u.n),
       encode(sha256(('p256' || u.n)::bytea), 'base64'), left(md5('auth' || u.n), 22),
       (ARRAY['web','ios','android'])[1 + u.n % 3], u.created_at,
       p.t_now - (u.n % 30) * INTERVAL '1 day'
  FROM demo_users u, demo_params p
 WHERE u.n % 3 = 0 AND u.deleted_at IS NULL AND NOT u.is_bot;

-- @lane 1
INSERT INTO nchat_workspace_members (workspace_id, user_id, role, joined_at)
SELECT pg_temp.demo_uuid('workspace', 1), u.id,
       CASE WHEN u.n = 1 THEN 'owner' WHEN u.is_admin THEN 'admin'
            WHEN u.n % 211 = 0 THEN 'guest' ELSE 'member' END::member_role,
       u.created_at
  FROM demo_users u
UNION ALL
SELECT pg_temp.demo_uuid('workspace', 2), cm.user_id,
       CASE WHEN cm.user_id = pg_temp.demo_uuid('user', 2) THEN 'owner'
            ELSE 'member' END::member_role,
       min(cm.joined_at)
  FROM nchat_channel_members cm
  JOIN demo_channels d ON d.id = cm.channel_id AND d.ws = 2
 GROUP BY cm.user_id
UNION ALL
SELECT pg_temp.demo_uuid('workspace', 2), pg_temp.demo_uuid('user', 2), 'owner',
       p.t_now - INTERVAL '181 days'
  FROM demo_params p
 WHERE NOT EXISTS (SELECT 1 FROM nchat_channel_members cm
                     JOIN demo_channels d ON d.id = cm.channel_id AND d.ws = 2
                    WHERE cm.user_id = pg_temp.demo_uuid('user', 2));

-- @lane 1
INSERT INTO nchat_user_roles (user_id, role_id, granted_by, granted_at)
SELECT u.id,
       pg_temp.demo_uuid('role', 10 + CASE WHEN u.is_admin THEN 1 WHEN u.n % 41 = 0 THEN 2
                                           WHEN u.n % 211 = 0 THEN 4 ELSE 3 END),
       pg_temp.demo_uuid('user', 1), u.created_at
  FROM demo_users u;

-- @lane 1
INSERT INTO nchat_bots (user_id, workspace_id, name, description, token_hash, scopes, created_by,
                        created_at)
SELECT u.id, pg_temp.demo_uuid('workspace', 1), u.display_name,
       'Posts ' || replace(u.username, '-bot', '') || ' updates',
       encode(sha256(('bot-token-' || u.n)::bytea), 'hex'),
       ARRAY['message.send', 'channel.read'], pg_temp.demo_uuid('user', 1), u.created_at
  FROM demo_users u
 WHERE u.is_bot;

-- @lane 1
INSERT INTO nchat_custom_emojis (workspace_id, name, image_url, created_by, created_at)
SELECT pg_temp.demo_uuid('workspace', 1), e,
       'https://cdn.acme.example/emoji/' || e || '.png',
       pg_temp.demo_uuid('user', 1 + o::int), p.t_now - (200 - o * 9) * INTERVAL '1 day'
  FROM demo_params p,
       unnest(ARRAY['shipit','partyparrot','lgtm','facepalm','coffee','acme','this-is-fine',
                    'rocket-fast','bug','pr-merged','oncall','thanks','hype','sad-panda',
                    'ship-it-squirrel']) WITH ORDINALITY AS x(e, o);

-- @lane 1
INSERT INTO nchat_webhooks (workspace_id, channel_id, url, secret, events, failure_count,
                            last_delivery_at, created_by, created_at)
SELECT pg_temp.demo_uuid('workspace', 1), pg_temp.demo_uuid('channel', 1 + k * 3),
       'https://hooks.acme.example/nchat/' || k, md5('whsec' || k),
       ARRAY['message.created', 'channel.created'], (k * 7) % 4,
       p.t_now - k * INTERVAL '2 hours', pg_temp.demo_uuid('user', 1),
       p.t_now - (150 - k * 10) * INTERVAL '1 day'
  FROM demo_params p, generate_series(1, least(5, p.n_channels / 3 - 1)) k;

-- @lane 1
INSERT INTO nchat_incoming_webhooks (channel_id, name, avatar_url, created_by, created_at)
SELECT pg_temp.demo_uuid('channel', 1 + k * 2),
       (ARRAY['GitHub','Sentry','PagerDuty','Jenkins','Statuspage'])[k],
       'https://cdn.acme.example/integrations/' || k || '.png', pg_temp.demo_uuid('user', 1),
       p.t_now - (120 - k * 5) * INTERVAL '1 day'
  FROM demo_params p, generate_series(1, least(5, (p.n_channels - 1) / 2)) k;

-- @lane 1
INSERT INTO nchat_integrations (workspace_id, provider, config, installed_by, installed_at)
SELECT pg_temp.demo_uuid('workspace', 1), pr,
       jsonb_build_object('enabled_at', (p.t_now - o * INTERVAL '20 days')::date),
       pg_temp.demo_uuid('user', 1), p.t_now - o * INTERVAL '20 days'
  FROM demo_params p,
       unnest(ARRAY['github','google-drive','jira','pagerduty']) WITH ORDINALITY AS x(pr, o);

-- @lane 1
INSERT INTO nchat_audit_logs (workspace_id, actor_id, action, target_type, target_id, ip_address,
                              user_agent, details, created_at)
SELECT pg_temp.demo_uuid('workspace', 1), pg_temp.demo_uuid('user', 1 + (k * 37) % p.n_users),
       (ARRAY['member.invited','channel.created','channel.archived','role.granted',
              'message.deleted','settings.updated','member.removed','integration.installed'])
         [1 + k % 8],
       (ARRAY['user','channel','channel','user','message','workspace','user','integration'])
         [1 + k % 8],
       pg_temp.demo_uuid('channel', 1 + k % p.n_channels),
       ('192.0.2.' || (k % 250))::inet, 'Mozilla/5.0', jsonb_build_object('seq', k),
       p.t_now - ((k * 7919) % (230 * 24)) * INTERVAL '1 hour'
  FROM demo_params p, generate_series(1, greatest(50, p.n_users / 2)) k;

-- @lane 1
INSERT INTO nchat_workspace_invites (workspace_id, email, role, invited_by, expires_at,
                                     accepted_at, created_at)
SELECT pg_temp.demo_uuid('workspace', 1 + k % 2), 'invitee' || k || '@partner.example',
       CASE WHEN k % 5 = 0 THEN 'guest' ELSE 'member' END::member_role,
       pg_temp.demo_uuid('user', 1 + k % 3), p.t_now - (k % 60) * INTERVAL '1 day'
                                               + INTERVAL '7 days',
       CASE WHEN k % 3 = 0 THEN p.t_now - (k % 60) * INTERVAL '1 day' + INTERVAL '1 day' END,
       p.t_now - (k % 60) * INTERVAL '1 day'
  FROM demo_params p, generate_series(1, greatest(5, p.n_users / 50)) k;

-- @lane 1
INSERT INTO nchat_plans (id, code, name, price_cents, billing_interval, limits, created_at)
VALUES (pg_temp.demo_uuid('plan', 1), 'free', 'Free', 0, 'month',
        '{"members": 10, "history_days": 90}', now() - INTERVAL '240 days'),
       (pg_temp.demo_uuid('plan', 2), 'team', 'Team', 800, 'month',
        '{"members": 500, "history_days": null}', now() - INTERVAL '240 days'),
       (pg_temp.demo_uuid('plan', 3), 'business', 'Business', 1500, 'month',
        '{"members": null, "history_days": null, "sso": true}', now() - INTERVAL '240 days');

-- @lane 1
INSERT INTO nchat_subscriptions (id, workspace_id, plan_id, status, current_period_start,
                                 current_period_end, external_id, created_at)
SELECT pg_temp.demo_uuid('subscription', w), pg_temp.demo_uuid('workspace', w),
       pg_temp.demo_uuid('plan', 4 - w), CASE WHEN w = 1 THEN 'active' ELSE 'trialing' END,
       date_trunc('month', p.t_now), date_trunc('month', p.t_now) + INTERVAL '1 month',
       'sub_' || md5('sub' || w), p.t_now - (240 - w * 60) * INTERVAL '1 day'
  FROM demo_params p, generate_series(1, 2) w;

-- @lane 1
INSERT INTO nchat_invoices (subscription_id, amount_cents, currency, status, issued_at, paid_at,
                            pdf_url)
SELECT pg_temp.demo_uuid('subscription', 1), 1500 * p.n_users / 10, 'usd',
       CASE WHEN k = 0 THEN 'open' ELSE 'paid' END,
       date_trunc('month', p.t_now) - k * INTERVAL '1 month',
       CASE WHEN k > 0 THEN date_trunc('month', p.t_now) - k * INTERVAL '1 month'
                            + INTERVAL '3 days' END,
       'https://billing.acme.example/invoices/' || md5('inv' || k) || '.pdf'
  FROM demo_params p, generate_series(0, 7) k;

-- @lane 1
INSERT INTO nchat_app_configuration (key, value, description, updated_by, updated_at)
SELECT k, v::jsonb, d, pg_temp.demo_uuid('user', 1), now() - INTERVAL '30 days'
  FROM (VALUES
    ('app.name', '"Acme Chat"', 'Display name'),
    ('app.version', '"0.3.0"', 'Deployed nChat version'),
    ('features.threads', 'true', 'Threaded replies'),
    ('features.reactions', 'true', 'Emoji reactions'),
    ('features.e2ee', 'false', 'End-to-end encryption (v0.4.0)'),
    ('features.voice_calls', 'false', 'Voice calls (v0.4.0)'),
    ('limits.max_message_length', '4000', 'Characters per message'),
    ('limits.max_upload_mb', '50', 'Upload size limit'),
    ('search.provider', '"postgres"', 'postgres or meilisearch'),
    ('retention.days', 'null', 'Message retention (null: forever)')
  ) AS c(k, v, d);

-- ===========================================================================
-- @phase finish each-lane
-- Rebuild the dropped indexes (each lane its share), drop the helpers, ANALYZE.
-- ===========================================================================
DO $$
DECLARE
  ix RECORD;
BEGIN
  FOR ix IN SELECT s.definition FROM demo_saved_indexes s, demo_params p
             WHERE s.ord % p.lanes = p.lane ORDER BY s.ord LOOP
    EXECUTE ix.definition;
  END LOOP;
END;
$$;

DROP TABLE pg_temp.demo_saved_indexes;
DROP TABLE pg_temp.demo_lines;
DROP TABLE pg_temp.demo_replies;
DROP TABLE pg_temp.demo_channels;
DROP TABLE pg_temp.demo_users;
DROP TABLE pg_temp.demo_params;
DROP FUNCTION pg_temp.demo_reply(BIGINT, BIGINT);
DROP FUNCTION pg_temp.demo_line(BIGINT, BIGINT, BIGINT);
DROP FUNCTION pg_temp.demo_member(BIGINT, BIGINT, INT);
DROP FUNCTION pg_temp.demo_user_created(BIGINT, INT, TIMESTAMPTZ);
DROP FUNCTION pg_temp.demo_username(BIGINT);
DROP FUNCTION pg_temp.demo_last(BIGINT);
DROP FUNCTION pg_temp.demo_first(BIGINT);
DROP FUNCTION pg_temp.demo_uuid(TEXT, BIGINT);
RESET synchronous_commit;
RESET maintenance_work_mem;
RESET work_mem;
RESET jit;
RESET session_replication_role;

-- ===========================================================================
-- @phase analyze lane-0
-- Statistics for the planner: the busiest tables in lane 0, every other table of the
-- schemas this file filled in lane 1 (after the index builds: ANALYZE and CREATE INDEX
-- on the same table wait for each other).
-- ===========================================================================
-- @lane 0
ANALYZE nchat_messages, nchat_reactions, nchat_threads;

-- @lane 1
DO $$
DECLARE
  t RECORD;
BEGIN
  FOR t IN
    SELECT n.nspname, c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname IN ('public', 'auth', 'storage')
       AND c.relname NOT IN ('nchat_messages', 'nchat_reactions', 'nchat_threads')
     ORDER BY 1, 2
  LOOP
    EXECUTE format('ANALYZE %I.%I', t.nspname, t.relname);
  END LOOP;
END;
$$;
