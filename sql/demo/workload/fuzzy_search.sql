-- Demo workload: the slow query. A fuzzy message search through the search view ranks
-- every message by trigram similarity: no index can serve it, so it reads all of
-- nchat_messages and takes seconds at the default scale. Returns the 20 best matches.
-- PostgreSQL 12+ with pg_trgm. Locks: ACCESS SHARE on nchat_messages for its duration
-- (an ALTER TABLE on nchat_messages waits for it, and queues everything behind).
SELECT id, channel_id, content_search, similarity(content_search, %(term)s) AS score
  FROM nchat_messages_search_view
 ORDER BY similarity(content_search, %(term)s) DESC, created_at DESC
 LIMIT 20
