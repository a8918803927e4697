-- types.sql: the types a migration names, found by schema and name (unqualified: on the
-- search_path). Parameters: schemas (text[], '' when unqualified), names (text[]).
-- Returns one row per pair: schema, name, oid (NULL when missing), typtype, labels (text[]:
-- an enum's labels in order, else NULL), elsewhere (text[]: schemas off the search_path that
-- hold a type of that name). PostgreSQL 9.4+. Catalog reads only.
SELECT q.schema, q.name, t.oid::bigint AS oid, t.typtype::text AS typtype,
       CASE WHEN t.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
                 ORDER BY e.enumsortorder) END AS labels,
       ARRAY(SELECT DISTINCT n2.nspname::text FROM pg_type t2 JOIN pg_namespace n2
                 ON n2.oid = t2.typnamespace
             WHERE t2.typname = q.name AND NOT n2.nspname = ANY(current_schemas(true))
             ORDER BY 1) AS elsewhere
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS q(schema, name)
LEFT JOIN LATERAL (
    SELECT ty.oid, ty.typtype
    FROM pg_type ty JOIN pg_namespace n ON n.oid = ty.typnamespace
    WHERE ty.typname = q.name
      AND (CASE WHEN q.schema = '' THEN n.nspname = ANY(current_schemas(true))
                ELSE n.nspname = q.schema END)
    ORDER BY array_position(current_schemas(true), n.nspname::name)
    LIMIT 1) t ON true
