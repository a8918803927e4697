-- database_comment.sql: one database's comment (NULL when it has none), by its name, which is
-- a bound parameter. Zero or one row. PostgreSQL 9.x+. Catalog reads only: takes no lock.
SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS comment
FROM pg_database d
WHERE d.datname = %(name)s
