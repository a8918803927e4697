-- default_def.sql: how PostgreSQL reads back a column default (parameters relation, a regclass
-- text, and column). One row, or none without a default. Catalog reads only: no lock.
SELECT pg_get_expr(d.adbin, d.adrelid)
FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = %(relation)s::regclass AND a.attname = %(column)s
