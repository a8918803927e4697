-- functions.sql: user functions and procedures (not extension members): identity arguments,
-- result, kind, language, volatility, security definer and an md5 of the body (diffable
-- without carrying the source). Sorted by schema, name, arguments.
-- PostgreSQL 11+ (prokind). Catalog reads only: takes no lock.
SELECT n.nspname AS schema, p.proname AS name,
       pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result,
       p.prokind::text AS kind, l.lanname AS language, p.provolatile::text AS volatility,
       p.prosecdef AS security_definer, md5(p.prosrc) AS body_md5
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3
