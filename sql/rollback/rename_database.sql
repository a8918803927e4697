-- rename_database.sql: rename database {old} to {new}. Fails if anyone is connected to {old}
-- (or this session is). Runs inside a transaction block, so two renames can be one atomic
-- swap. Needs the owner with CREATEDB, or a superuser. Any PostgreSQL. Locks the database.
ALTER DATABASE {old} RENAME TO {new}
