-- block_sample_range.sql: live rows in each of the given heap pages of one table, one TID
-- range scan per page (reads only those pages), to measure how unevenly rows spread over
-- pages, which sets the error of ANALYZE's page-sampled row estimate. Empty pages count 0.
-- A template: the table placeholder is psycopg.sql.Identifier(schema, name); the blocks
-- parameter is a bigint[] of page numbers. PostgreSQL 14+ (TID Range Scan).
-- Takes ACCESS SHARE on the table.
SELECT b.block,
       (SELECT count(*) FROM {table} t
        WHERE t.ctid >= ('(' || b.block || ',0)')::tid
          AND t.ctid < ('(' || (b.block + 1) || ',0)')::tid) AS live
FROM unnest(%(blocks)s::bigint[]) AS b(block)
