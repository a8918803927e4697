-- Demo workload: a user posts a message (the counter trigger bumps the channel's
-- last_message_at). Returns the new message's id.
-- PostgreSQL 12+. Locks: ROW EXCLUSIVE on nchat_messages, a row lock on the channel row.
INSERT INTO nchat_messages (channel_id, user_id, type, content, content_plain, metadata)
VALUES (%(channel_id)s, %(user_id)s, 'text', %(content)s, %(content)s,
        '{"client": "web", "source": "nchat-demo-app"}')
RETURNING id
