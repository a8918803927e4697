-- extensions.sql: the extensions a migration creates or relies on: installed here, available
-- on this server, and whether this user may create them. Parameter: names (text[]).
-- Returns one row per name: name, installed (version or NULL), available (default version or
-- NULL: the contrib package is not installed), trusted, needs_superuser (for the default
-- version; NULL when unavailable), is_superuser (this session's user), schema (where it is
-- installed). PostgreSQL 13+ (trusted extensions); older servers report trusted false.
SELECT q.name,
       e.extversion::text AS installed,
       (SELECT ns.nspname::text FROM pg_namespace ns WHERE ns.oid = e.extnamespace) AS schema,
       a.default_version::text AS available,
       COALESCE(v.trusted, false) AS trusted,
       v.superuser AS needs_superuser,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS is_superuser
FROM unnest(%(names)s::text[]) AS q(name)
LEFT JOIN pg_extension e ON e.extname = q.name
LEFT JOIN pg_available_extensions a ON a.name = q.name
LEFT JOIN pg_available_extension_versions v ON v.name = q.name AND v.version = a.default_version
