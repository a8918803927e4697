-- functions.sql: whether the functions a migration calls exist, by name (any arguments).
-- Parameters: schemas (text[], '' for an unqualified name: looked up on the search_path, as
-- the server resolves it), names (text[], same length). Returns one row per pair: schema, name,
-- found (boolean), elsewhere (text[]: schemas off the search_path holding a function of that
-- name, for the hint). PostgreSQL 9.4+. Catalog reads only.
SELECT q.schema, q.name,
       EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE p.proname = q.name
                 AND (CASE WHEN q.schema = '' THEN n.nspname = ANY(current_schemas(true))
                           ELSE n.nspname = q.schema END)) AS found,
       ARRAY(SELECT DISTINCT n.nspname::text FROM pg_proc p JOIN pg_namespace n
                 ON n.oid = p.pronamespace
             WHERE p.proname = q.name AND NOT n.nspname = ANY(current_schemas(true))
             ORDER BY 1) AS elsewhere
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS q(schema, name)
