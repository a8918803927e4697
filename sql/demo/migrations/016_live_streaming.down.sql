-- Rollback of migration 016: drop the live-streaming tables, trigger function and type
--
-- Data: stream history and viewer statistics are lost.

DROP TABLE IF EXISTS nchat_stream_viewers;
DROP FUNCTION IF EXISTS nchat_stream_viewers_count();
DROP TABLE IF EXISTS nchat_live_streams;
DROP TYPE IF EXISTS stream_status;
