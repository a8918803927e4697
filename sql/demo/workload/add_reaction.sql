-- Demo workload: a user reacts to the latest message of a channel (the trigger bumps
-- reaction_count). Returns the reaction's id, or no row when it already existed.
-- PostgreSQL 12+. Locks: ROW EXCLUSIVE on nchat_reactions, a row lock on the message.
INSERT INTO nchat_reactions (message_id, user_id, emoji)
SELECT m.id, %(user_id)s, %(emoji)s
  FROM nchat_messages m
 WHERE m.channel_id = %(channel_id)s AND NOT m.is_deleted
 ORDER BY m.created_at DESC
 LIMIT 1
ON CONFLICT (message_id, user_id, emoji) DO NOTHING
RETURNING id
