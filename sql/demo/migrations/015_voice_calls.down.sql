-- Rollback of migration 015: drop the voice/video call tables and their types
--
-- Data: call history (calls, participants, events) is lost.

DROP TABLE IF EXISTS nchat_call_events;
DROP TABLE IF EXISTS nchat_call_participants;
DROP TABLE IF EXISTS nchat_calls;
DROP TYPE IF EXISTS call_status;
DROP TYPE IF EXISTS call_type;
