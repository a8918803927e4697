-- drop_scratch_database.sql: drop a scratch database this tool created itself (a test restore, or
-- a failed restore's own new database), ending its sessions. A template: the name is filled in as
-- a psycopg.sql.Identifier. PostgreSQL 13+ (WITH (FORCE)). Never used on a database we did not
-- create. Takes an exclusive lock on the database.
DROP DATABASE IF EXISTS {name} WITH (FORCE)
