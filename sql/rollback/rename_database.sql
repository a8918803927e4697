-- rename_database.sql: rename a database (a template: old and new names are
-- identifiers). Fails if anyone is connected to the old one
-- (or this session is). Runs inside a transaction block, so two renames can be one atomic
-- swap. Needs the owner with CREATEDB, or a superuser. Any PostgreSQL. Locks the database.
ALTER DATABASE {old} RENAME TO {new}
