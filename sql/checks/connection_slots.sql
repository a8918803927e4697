-- connection_slots.sql: how many connection slots are used and left on the server.
-- Returns one row: client backends, max_connections, superuser_reserved_connections, and the
-- count per database. PostgreSQL 12+. Reads pg_stat_activity; no relation locks.
SELECT
    count(*) FILTER (WHERE backend_type = 'client backend' OR backend_type IS NULL
                     AND datname IS NOT NULL) AS used,
    current_setting('max_connections')::int AS max_connections,
    current_setting('superuser_reserved_connections')::int AS reserved,
    (SELECT json_object_agg(coalesce(d, '(none)'), n) FROM (
        SELECT datname AS d, count(*) AS n FROM pg_stat_activity
        WHERE datname IS NOT NULL GROUP BY datname) x) AS per_database
FROM pg_stat_activity
