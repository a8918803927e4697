-- comment_scratch_database.sql: mark a scratch database as ours (who made it, for what), so
-- leftover detection never mistakes someone else's database for one. A template: the caller fills
-- the database name (an identifier) and the comment (a literal) with psycopg.sql. Any PostgreSQL.
-- Takes a lock on the database's catalog row only.
COMMENT ON DATABASE {name} IS {comment}
