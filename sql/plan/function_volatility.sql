-- function_volatility.sql: the volatility of functions a column default calls (a volatile
-- default makes ADD COLUMN rewrite the whole table; a stable or immutable one does not, PG11+).
-- Parameter: names (text[]), function names as written (unqualified or schema.name).
-- Returns name, volatile (true when any overload of that name is volatile).
-- PostgreSQL 9.4+. Catalog reads only.
SELECT n.name,
       bool_or(p.provolatile = 'v') AS volatile
FROM unnest(%(names)s::text[]) AS n(name)
JOIN pg_proc p ON p.proname = regexp_replace(n.name, '^.*[.]', '')
JOIN pg_namespace ns ON ns.oid = p.pronamespace
WHERE strpos(n.name, '.') = 0 OR ns.nspname = split_part(n.name, '.', 1)
GROUP BY n.name
