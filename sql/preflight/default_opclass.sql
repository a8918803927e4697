-- default_opclass.sql: whether a column type has a default operator class for an index access
-- method, by the rules the server applies when an index names no operator class
-- (GetDefaultOpClass): an exact input type, a polymorphic one (anyarray, anyenum, anyrange,
-- any, anyelement, record) the type fits, or an implicit binary-coercible cast (varchar uses
-- text's classes); a domain is judged by its base type. Parameters: methods (text[]), types
-- (bigint[]: type oids). Returns one row per pair: method, type_oid, type (formatted),
-- method_exists, found. PostgreSQL 10+ (to_regtype for the polymorphic types a server lacks).
-- Catalog reads only. The candidate input types are built per row as an array first: written
-- as a correlated EXISTS inside an OR, PostgreSQL 15 hashed that subplan once for every row.
WITH q AS (
    SELECT m.method, m.type_oid, b.oid AS base, b.typtype, b.typcategory
    FROM unnest(%(methods)s::text[], %(types)s::bigint[]) AS m(method, type_oid)
    LEFT JOIN pg_type t ON t.oid = m.type_oid::oid
    LEFT JOIN pg_type b ON b.oid = COALESCE(NULLIF(t.typbasetype, 0), t.oid)
), c AS (
    SELECT q.*,
           ARRAY(SELECT x FROM (
                     SELECT q.base AS x
                     UNION ALL SELECT to_regtype('"any"')::oid
                     UNION ALL SELECT to_regtype('anyelement')::oid
                     UNION ALL SELECT to_regtype('anyarray')::oid WHERE q.typcategory = 'A'
                     UNION ALL SELECT to_regtype('anycompatiblearray')::oid
                               WHERE q.typcategory = 'A'
                     UNION ALL SELECT to_regtype('anyenum')::oid WHERE q.typtype = 'e'
                     UNION ALL SELECT to_regtype('anyrange')::oid WHERE q.typtype = 'r'
                     UNION ALL SELECT to_regtype('anycompatiblerange')::oid WHERE q.typtype = 'r'
                     UNION ALL SELECT to_regtype('record')::oid WHERE q.typtype = 'c'
                     UNION ALL SELECT ca.casttarget FROM pg_cast ca
                               WHERE ca.castsource = q.base AND ca.castmethod = 'b'
                                 AND ca.castcontext = 'i') s
                 WHERE x IS NOT NULL) AS candidates
    FROM q
)
SELECT c.method, c.type_oid, format_type(c.type_oid::oid, NULL) AS type,
       EXISTS (SELECT 1 FROM pg_am am WHERE am.amname = c.method) AS method_exists,
       EXISTS (SELECT 1
               FROM pg_opclass o JOIN pg_am am ON am.oid = o.opcmethod AND am.amname = c.method
               WHERE o.opcdefault AND o.opcintype = ANY (c.candidates)) AS found
FROM c
