-- Demo workload: who posts where. Returns (channel_id, user_id) pairs: members of the
-- busiest open channels, in random order (the workload's simulated users).
-- PostgreSQL 12+. Locks: ACCESS SHARE on nchat_channels and nchat_channel_members.
SELECT cm.channel_id, cm.user_id
  FROM (SELECT id
          FROM nchat_channels
         WHERE NOT is_archived
         ORDER BY last_message_at DESC NULLS LAST
         LIMIT 40) c
  JOIN nchat_channel_members cm ON cm.channel_id = c.id
  JOIN nchat_users u ON u.id = cm.user_id AND u.deleted_at IS NULL AND NOT u.is_bot
 ORDER BY random()
 LIMIT %(limit)s
