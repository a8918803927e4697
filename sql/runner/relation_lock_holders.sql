-- relation_lock_holders.sql: sessions holding a granted lock on the named relations (used when
-- a lock wait ended before pg_blocking_pids could be sampled). Parameter: names (text[]),
-- resolved with to_regclass. Returns pid, mode, relation. PostgreSQL 9.4+. Reads pg_locks only.
SELECT DISTINCT l.pid, l.mode, l.relation::regclass::text AS relation
FROM pg_locks l
WHERE l.granted
  AND l.locktype = 'relation'
  AND l.pid <> pg_backend_pid()
  AND l.relation = ANY (ARRAY(SELECT to_regclass(n) FROM unnest(%(names)s::text[]) AS n
                              WHERE to_regclass(n) IS NOT NULL)::oid[])
