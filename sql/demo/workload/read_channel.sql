-- Demo workload: the client opens a channel. Returns its latest 50 visible messages with
-- their authors. PostgreSQL 12+. Locks: ACCESS SHARE on nchat_messages and nchat_users.
SELECT m.id, m.content, m.created_at, m.reaction_count, m.reply_count, u.display_name
  FROM nchat_messages m
  LEFT JOIN nchat_users u ON u.id = m.user_id
 WHERE m.channel_id = %(channel_id)s AND NOT m.is_deleted AND m.thread_id IS NULL
 ORDER BY m.created_at DESC
 LIMIT 50
