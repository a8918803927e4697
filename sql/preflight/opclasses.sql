-- opclasses.sql: whether operator classes an index names exist for its access method, and are
-- visible on the search_path. Parameters: names (text[]), methods (text[], same length: btree,
-- gin, gist, ...). Returns one row per pair: name, method, found. PostgreSQL 9.4+.
SELECT q.name, q.method,
       EXISTS (SELECT 1 FROM pg_opclass o JOIN pg_am am ON am.oid = o.opcmethod
               WHERE o.opcname = q.name AND am.amname = q.method
                 AND pg_opclass_is_visible(o.oid)) AS found
FROM unnest(%(names)s::text[], %(methods)s::text[]) AS q(name, method)
