-- scratch_databases.sql: databases that may be leftovers of this tool's runs: those carrying
-- the comment nchat-tui writes on the databases it creates (test restores, rollback and
-- rehearsal copies, restores in progress), whatever their name, and those without any comment
-- (the caller keeps only names nchat-tui alone gives). With the comment and the number of
-- sessions connected, for leftover detection after a crash. PostgreSQL 9.x+. Takes no lock.
SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS comment,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) AS connections
FROM pg_database d
WHERE NOT d.datistemplate
  AND (shobj_description(d.oid, 'pg_database') LIKE 'nchat-tui scratch:%'
       OR shobj_description(d.oid, 'pg_database') IS NULL)
ORDER BY 1
