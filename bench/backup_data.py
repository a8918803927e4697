"""An nChat-like database of a chosen size for the backup benchmark (bench/bench_backup.py).

The demo's seed (sql/demo/seed_data.sql) is made for a ~200 MB database that loads in seconds:
its chat lines come from a pool of a few thousand phrases, far more compressible than real chat,
and it does not reach 1 GiB. This builder keeps the demo's traits that matter to a dump (the
nchat_ tables and their shapes: uuid keys from gen_random_uuid(), enums, jsonb, soft deletes,
``source_account_id``, content and content_plain, a dominant messages table with several other
large ones, btree indexes) and makes text whose compressibility is that of real chat: words drawn
with a skewed frequency from a 4,000-word vocabulary, so gzip finds words, not whole repeated
lines. Sizes scale linearly: ``scale`` 1.0 is about 1 GiB (pg_database_size), 5.0 about 5 GiB.

Two connections fill different tables at once (this machine has 2 cores).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TYPE user_status AS ENUM ('online', 'away', 'busy', 'offline');
CREATE TYPE channel_type AS ENUM ('public', 'private', 'direct', 'group');
CREATE TYPE message_type AS ENUM ('text', 'image', 'file', 'code', 'system', 'poll');
CREATE TYPE member_role AS ENUM ('owner', 'admin', 'member', 'guest');

CREATE TABLE auth.users (id uuid PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL,
    email_verified boolean NOT NULL DEFAULT true, last_seen timestamptz,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE nchat_users (id uuid PRIMARY KEY, auth_user_id uuid NOT NULL, username text NOT NULL,
    display_name text NOT NULL, email text NOT NULL, avatar_url text, bio text,
    status user_status NOT NULL DEFAULT 'offline', timezone text NOT NULL DEFAULT 'UTC',
    source_account_id text NOT NULL DEFAULT 'primary', created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL, deleted_at timestamptz);
CREATE TABLE nchat_channels (id uuid PRIMARY KEY, name text NOT NULL, description text,
    type channel_type NOT NULL, is_archived boolean NOT NULL DEFAULT false,
    archived_at timestamptz, created_by uuid NOT NULL, member_count int NOT NULL DEFAULT 0,
    source_account_id text NOT NULL DEFAULT 'primary', created_at timestamptz NOT NULL);
CREATE TABLE nchat_channel_members (channel_id uuid NOT NULL, user_id uuid NOT NULL,
    role member_role NOT NULL DEFAULT 'member', joined_at timestamptz NOT NULL,
    last_read_at timestamptz, notification_level text NOT NULL DEFAULT 'all',
    PRIMARY KEY (channel_id, user_id));
CREATE TABLE nchat_messages (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id uuid NOT NULL, user_id uuid NOT NULL, thread_id uuid, parent_message_id uuid,
    type message_type NOT NULL DEFAULT 'text', content text NOT NULL, content_plain text,
    metadata jsonb NOT NULL DEFAULT '{}', reaction_count int NOT NULL DEFAULT 0,
    reply_count int NOT NULL DEFAULT 0, is_pinned boolean NOT NULL DEFAULT false,
    is_edited boolean NOT NULL DEFAULT false, is_deleted boolean NOT NULL DEFAULT false,
    source_account_id text NOT NULL DEFAULT 'primary', created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL, edited_at timestamptz, deleted_at timestamptz);
CREATE TABLE nchat_reactions (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id uuid NOT NULL, user_id uuid NOT NULL, emoji text NOT NULL,
    created_at timestamptz NOT NULL);
CREATE TABLE nchat_attachments (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id uuid NOT NULL, uploaded_by uuid NOT NULL, file_name text NOT NULL,
    mime_type text NOT NULL, size_bytes bigint NOT NULL, storage_url text NOT NULL,
    width int, height int, created_at timestamptz NOT NULL);
CREATE TABLE nchat_notifications (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL, type text NOT NULL, title text NOT NULL, body text,
    data jsonb NOT NULL DEFAULT '{}', is_read boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL);

-- words: a 4,000-word vocabulary (common chat words first, then made-up technical words
-- from syllables), drawn with a skewed frequency (low ids far more often)
CREATE TABLE bench_words (id int PRIMARY KEY, w text NOT NULL);
INSERT INTO bench_words
WITH common(a) AS (SELECT ARRAY['the','to','I','a','and','is','it','you','for','on',
    'that','this','in','we','be','can','have','with','are','not','just','do','so','was','but',
    'deploy','fix','thanks','ok','yes','no','will','at','if','my','me','what','check','now',
    'it''s','there','about','up','get','one','all','out','i''m','from','they','an','or',
    'lgtm','PR','merged','build','test','tests','prod','staging','migration','backup','db',
    'please','review','looks','good','today','tomorrow','meeting','call','lunch','later',
    'issue','ticket','release','branch','main','error','logs','server','users','api','cache',
    'query','slow','fast','rollback','ready','done','working','broken','again','still',
    'should','would','could','think','know','need','want','see','let','try','time','day',
    'week','team','channel','thread','message','link','doc','update','new','old'])
SELECT g, CASE WHEN g <= cardinality(a) THEN a[g]
    ELSE initcap((ARRAY['ka','lo','mi','den','ter','ship','ing','ra','vo','nex','tor','ul',
        'pri','sta','gen','co','mar','lin','dex','po','zen','qua','fi','rel','bo','tri','sa',
        'mon','cul','ver'])[1 + g % 30])
         || (ARRAY['ka','lo','mi','den','ter','ship','ing','ra','vo','nex','tor','ul','pri',
        'sta','gen','co','mar','lin','dex','po','zen','qua','fi','rel','bo','tri','sa','mon',
        'cul','ver'])[1 + (g / 30) % 30]
         || CASE WHEN g % 3 = 0 THEN (ARRAY['er','ion','ize','ed','s','able','ly'])[1 + g % 7]
                 ELSE '' END
    END
FROM common, generate_series(1, 4000) g;
"""

# 200,000 sentences of 3-22 words each; a message is one or two of them plus, now and then,
# a URL, a mention or a code span. Pairs drawn at random: the gzip window sees no repeated
# lines, only repeated words (as in real chat).
SENTENCES = """
CREATE UNLOGGED TABLE bench_sentences AS
SELECT p.i, string_agg(w.w, ' ' ORDER BY p.k) AS line
  FROM (SELECT s.i, k.k, 1 + floor(3999 * power(random(), 4))::int AS wid
          FROM generate_series(1, 200000) s(i)
          CROSS JOIN LATERAL generate_series(1, 3 + (s.i * 7919) % 20) k(k)
        OFFSET 0) p
  JOIN bench_words w ON w.id = p.wid
 GROUP BY p.i;
ALTER TABLE bench_sentences ADD PRIMARY KEY (i);
"""

UUID_FN = """
CREATE OR REPLACE FUNCTION pg_temp.bench_uuid(kind text, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS
$$ SELECT overlay(overlay(md5(kind || ':' || n) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid $$;
"""


def counts(scale: float) -> dict[str, int]:
    return {"users": max(200, int(40_000 * scale)), "channels": max(20, int(4_000 * scale)),
            "members": max(1000, int(300_000 * scale)),
            "messages": max(2000, int(1_160_000 * scale)),
            "reactions": max(1000, int(1_020_000 * scale)),
            "attachments": max(100, int(80_000 * scale)),
            "notifications": max(1000, int(600_000 * scale))}


def _users(n: dict[str, int]) -> list[str]:
    u = n["users"]
    return [f"""INSERT INTO auth.users (id, email, password_hash, last_seen, created_at)
        SELECT pg_temp.bench_uuid('auth', g), 'user' || g || '@example.org',
               '$2b$10$' || substr(md5(random()::text) || md5(random()::text), 1, 53),
               now() - random() * interval '30 days', now() - (g % 700) * interval '1 day'
          FROM generate_series(1, {u}) g""",
            f"""INSERT INTO nchat_users (id, auth_user_id, username, display_name, email,
                avatar_url, bio, status, timezone, created_at, updated_at, deleted_at)
        SELECT pg_temp.bench_uuid('user', g), pg_temp.bench_uuid('auth', g),
               'user_' || g, initcap(w1.w) || ' ' || initcap(w2.w), 'user' || g || '@example.org',
               CASE WHEN g % 3 = 0 THEN 'https://storage.example.org/avatars/'
                    || pg_temp.bench_uuid('avatar', g) || '.png' END,
               CASE WHEN g % 4 = 0 THEN s.line END,
               (ARRAY['online','away','busy','offline'])[1 + g % 4]::user_status,
               (ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Tokyo'])[1 + g % 4],
               now() - (g % 700) * interval '1 day', now() - (g % 30) * interval '1 day',
               CASE WHEN g % 50 = 0 THEN now() - (g % 20) * interval '1 day' END
          FROM generate_series(1, {u}) g
          JOIN bench_words w1 ON w1.id = 121 + g % 3800
          JOIN bench_words w2 ON w2.id = 121 + (g * 31) % 3800
          JOIN bench_sentences s ON s.i = 1 + g % 200000"""]


def _channels(n: dict[str, int]) -> list[str]:
    c, u, m = n["channels"], n["users"], n["members"]
    return [f"""INSERT INTO nchat_channels (id, name, description, type, is_archived,
                archived_at, created_by, member_count, created_at)
        SELECT pg_temp.bench_uuid('channel', g), lower(w.w) || '-' || g, s.line,
               (ARRAY['public','public','private','direct','group'])[1 + g % 5]::channel_type,
               g % 16 = 0, CASE WHEN g % 16 = 0 THEN now() - (g % 90) * interval '1 day' END,
               pg_temp.bench_uuid('user', 1 + g % {u}), {m} / {c},
               now() - (g % 800) * interval '1 day'
          FROM generate_series(1, {c}) g
          JOIN bench_words w ON w.id = 121 + g % 3800
          JOIN bench_sentences s ON s.i = 1 + (g * 13) % 200000""",
            f"""INSERT INTO nchat_channel_members (channel_id, user_id, role, joined_at,
                last_read_at, notification_level)
        SELECT pg_temp.bench_uuid('channel', 1 + g % {c}),
               pg_temp.bench_uuid('user', 1 + (g / {c} + g * 7) % {u}),
               (ARRAY['owner','admin','member','member','member','member','guest'])
                   [1 + g % 7]::member_role,
               now() - (g % 600) * interval '1 day', now() - (g % 48) * interval '1 hour',
               (ARRAY['all','mentions','none'])[1 + g % 3]
          FROM generate_series(1, {m}) g
        ON CONFLICT DO NOTHING"""]


def _messages(n: dict[str, int], part: int, parts: int) -> str:
    c, u, total = n["channels"], n["users"], n["messages"]
    lo, hi = total * part // parts + 1, total * (part + 1) // parts
    # channel traffic is skewed: a few channels carry most messages
    return f"""INSERT INTO nchat_messages (channel_id, user_id, thread_id, parent_message_id,
                type, content, content_plain, metadata, reaction_count, reply_count, is_pinned,
                is_edited, is_deleted, created_at, updated_at, edited_at, deleted_at)
        SELECT pg_temp.bench_uuid('channel', 1 + floor({c - 1} * power(x.r1, 3))::int),
               pg_temp.bench_uuid('user', 1 + floor({u - 1} * power(x.r2, 2))::int),
               CASE WHEN x.g % 10 = 0 THEN pg_temp.bench_uuid('thread', x.g / 10) END,
               CASE WHEN x.g % 10 = 0 THEN pg_temp.bench_uuid('root', x.g / 10) END,
               CASE WHEN x.g % 40 = 1 THEN 'code' WHEN x.g % 25 = 2 THEN 'image'
                    WHEN x.g % 31 = 3 THEN 'file' WHEN x.g % 97 = 4 THEN 'system'
                    ELSE 'text' END::message_type,
               x.content, regexp_replace(x.content, '[*_`>]', '', 'g'),
               jsonb_build_object('client', (ARRAY['web','ios','android','desktop'])[1 + x.g % 4],
                                  'mentions', CASE WHEN x.g % 12 = 0 THEN jsonb_build_array(
                                      pg_temp.bench_uuid('user', 1 + x.g % {u})) ELSE '[]' END),
               (x.g % 9 = 0)::int * (1 + x.g % 5), (x.g % 20 = 0)::int * (x.g % 13),
               x.g % 500 = 0, x.g % 17 = 0, x.g % 83 = 0, x.ts, x.ts,
               CASE WHEN x.g % 17 = 0 THEN x.ts + interval '5 minutes' END,
               CASE WHEN x.g % 83 = 0 THEN x.ts + interval '1 day' END
          FROM (SELECT y.g, y.r1, y.r2, y.ts,
                       CASE WHEN y.g % 40 = 1 THEN '```' || s1.line || '```'
                            WHEN y.g % 7 = 0 THEN s1.line || '. ' || s2.line || ' https://'
                                 || lower(w.w) || '.example.org/' || md5(y.g::text)
                            WHEN y.g % 3 = 0 THEN '**' || s1.line || '** ' || s2.line
                            WHEN y.g % 11 = 0 THEN '@user_' || (1 + y.g % {u}) || ' ' || s1.line
                            ELSE s1.line END AS content
                  FROM (SELECT g, random() AS r1, random() AS r2,
                               now() - interval '400 days' * power(random(), 1.5) AS ts,
                               1 + floor(199999 * random())::int AS k1,
                               1 + floor(199999 * random())::int AS k2
                          FROM generate_series({lo}, {hi}) g OFFSET 0) y
                  JOIN bench_sentences s1 ON s1.i = y.k1
                  JOIN bench_sentences s2 ON s2.i = y.k2
                  JOIN bench_words w ON w.id = 121 + y.g % 3800) x"""


def _others(n: dict[str, int]) -> list[str]:
    u, total = n["users"], n["messages"]
    return [f"""INSERT INTO nchat_reactions (message_id, user_id, emoji, created_at)
        SELECT pg_temp.bench_uuid('msg', 1 + floor({total - 1} * random())::int),
               pg_temp.bench_uuid('user', 1 + floor({u - 1} * power(random(), 2))::int),
               (ARRAY['+1','heart','joy','tada','eyes','rocket','white_check_mark','pray',
                      'fire','thinking_face'])[1 + floor(10 * power(random(), 2))::int],
               now() - interval '400 days' * random()
          FROM generate_series(1, {n['reactions']}) g""",
            f"""INSERT INTO nchat_attachments (message_id, uploaded_by, file_name, mime_type,
                size_bytes, storage_url, width, height, created_at)
        SELECT pg_temp.bench_uuid('msg', g * 13), pg_temp.bench_uuid('user', 1 + g % {u}),
               lower(w.w) || '_' || g || (ARRAY['.png','.jpg','.pdf','.txt','.zip'])[1 + g % 5],
               (ARRAY['image/png','image/jpeg','application/pdf','text/plain',
                      'application/zip'])[1 + g % 5],
               (random() * 20000000)::bigint,
               'https://storage.example.org/files/' || gen_random_uuid(),
               CASE WHEN g % 5 < 2 THEN 200 + g % 1800 END,
               CASE WHEN g % 5 < 2 THEN 150 + g % 1000 END,
               now() - interval '400 days' * random()
          FROM generate_series(1, {n['attachments']}) g
          JOIN bench_words w ON w.id = 121 + g % 3800""",
            f"""INSERT INTO nchat_notifications (user_id, type, title, body, data, is_read,
                created_at)
        SELECT pg_temp.bench_uuid('user', 1 + floor({u - 1} * power(random(), 2))::int),
               (ARRAY['mention','reply','reaction','invite','system'])[1 + g % 5],
               (ARRAY['New mention','New reply','New reaction','Channel invite',
                      'System notice'])[1 + g % 5],
               s.line,
               jsonb_build_object('message_id', pg_temp.bench_uuid('msg', g),
                                  'channel_id', pg_temp.bench_uuid('channel', 1 + g % 997)),
               g % 4 <> 0, now() - interval '90 days' * random()
          FROM (SELECT g, 1 + floor(199999 * random())::int AS k
                  FROM generate_series(1, {n['notifications']}) g OFFSET 0) y
          JOIN bench_sentences s ON s.i = y.k"""]


INDEXES = [
    "CREATE INDEX nchat_messages_channel_created ON nchat_messages (channel_id, created_at)",
    "CREATE INDEX nchat_messages_user ON nchat_messages (user_id)",
    "CREATE INDEX nchat_messages_thread ON nchat_messages (thread_id) WHERE thread_id IS NOT NULL",
    "CREATE INDEX nchat_reactions_message ON nchat_reactions (message_id)",
    "CREATE UNIQUE INDEX nchat_users_username ON nchat_users (username)",
    "CREATE INDEX nchat_channel_members_user ON nchat_channel_members (user_id)",
    "CREATE INDEX nchat_notifications_user_unread ON nchat_notifications (user_id, created_at) "
    "WHERE NOT is_read",
    "CREATE INDEX nchat_attachments_message ON nchat_attachments (message_id)",
]


def build(conninfo: dict[str, str], scale: float,
          say: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill the (empty) database of ``conninfo`` at ``scale``; returns sizes and timings."""
    n = counts(scale)
    t0 = time.monotonic()
    setup = ["SET synchronous_commit = off", "SET jit = off", "SET work_mem = '256MB'",
             "SET maintenance_work_mem = '512MB'", UUID_FN]
    with psycopg.connect(make_conninfo(**conninfo), autocommit=True) as c:
        c.execute("SET jit = off")
        c.execute(SCHEMA)
        c.execute(SENTENCES)
    say(f"vocabulary and sentences in {time.monotonic() - t0:.0f}s")

    lanes: list[list[str]] = [
        [_messages(n, 0, 2), *_users(n), *_channels(n)],
        [_messages(n, 1, 2), *_others(n)],
    ]
    errors: list[BaseException] = []

    def run(stmts: list[str]) -> None:
        try:
            with psycopg.connect(make_conninfo(**conninfo), autocommit=True) as c:
                for s in setup:
                    c.execute(s)
                for s in stmts:
                    t = time.monotonic()
                    c.execute(s)
                    say(f"  {s.split('(')[0].strip()[:50]} {time.monotonic() - t:.0f}s")
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(lane,)) for lane in lanes]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    half = len(INDEXES) // 2
    threads = [threading.Thread(target=run, args=(INDEXES[:half],)),
               threading.Thread(target=run, args=(INDEXES[half:],))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    with psycopg.connect(make_conninfo(**conninfo), autocommit=True) as c:
        c.execute("DROP TABLE bench_sentences")
        c.execute("DROP TABLE bench_words")
        c.execute("VACUUM (ANALYZE, FREEZE)")
        row = c.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        tables = {r[0]: int(r[1]) for r in c.execute(
            "SELECT n.nspname || '.' || c.relname, pg_table_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 2 DESC")}
    return {"db_size": int(row[0]), "tables": tables, "rows": n,
            "build_s": round(time.monotonic() - t0, 1)}
