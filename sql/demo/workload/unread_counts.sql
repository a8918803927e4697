-- Demo workload: the sidebar's unread badges for a user. Returns (channel_id, unread).
-- PostgreSQL 12+. Locks: ACCESS SHARE on nchat_channel_members and nchat_messages.
SELECT cm.channel_id, count(m.id) AS unread
  FROM nchat_channel_members cm
  LEFT JOIN nchat_messages m
         ON m.channel_id = cm.channel_id AND m.created_at > cm.last_read_at AND NOT m.is_deleted
 WHERE cm.user_id = %(user_id)s
 GROUP BY cm.channel_id
