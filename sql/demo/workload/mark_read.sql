-- Demo workload: the client marks a channel read for a user. Returns nothing.
-- PostgreSQL 12+. Locks: ROW EXCLUSIVE on nchat_channel_members (one row).
UPDATE nchat_channel_members
   SET last_read_at = now()
 WHERE channel_id = %(channel_id)s AND user_id = %(user_id)s
