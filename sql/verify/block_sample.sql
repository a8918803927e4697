-- block_sample.sql: live rows in each of a few heap pages of one table (a TID scan over every
-- line pointer of the given pages: reads only those pages), to measure how unevenly rows
-- spread over pages, which sets the error of ANALYZE's page-sampled row estimate. Pages
-- with no visible row are absent from the result (the caller counts them as zero).
-- A template: the table placeholder is psycopg.sql.Identifier(schema, name); the tids parameter is
-- a tid[] array. PostgreSQL 9.x+. Takes ACCESS SHARE on the table.
SELECT (ctid::text::point)[0]::bigint AS block, count(*) AS live
FROM {table}
WHERE ctid = ANY (%(tids)s::tid[])
GROUP BY 1
