-- sequences.sql: user sequences, type, increment and last value (NULL without privilege or
-- before first use; sequences are not transactional, so last_value is "at least" the snapshot's).
-- Sorted by schema, name. PostgreSQL 10+ (pg_sequences). Takes no relation lock.
SELECT schemaname AS schema, sequencename AS name, data_type::text AS data_type,
       increment_by, last_value
FROM pg_sequences
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
