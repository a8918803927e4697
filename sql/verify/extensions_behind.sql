-- extensions_behind.sql: installed extensions whose installed version differs from the version
-- this server's packages ship as default (ALTER EXTENSION ... UPDATE brings them level).
-- PostgreSQL 9.1+. Takes no lock.
SELECT name, installed_version, default_version
FROM pg_available_extensions
WHERE installed_version IS NOT NULL
  AND installed_version IS DISTINCT FROM default_version
ORDER BY 1
