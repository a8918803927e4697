-- drop_database.sql: drop one database (a template: its name is an
-- identifier), which must have no connections (no FORCE: a
-- connected session makes this fail and is reported instead). Cannot run in a transaction
-- block. Needs the owner or a superuser. Any PostgreSQL. ACCESS EXCLUSIVE on the database.
DROP DATABASE {name}
