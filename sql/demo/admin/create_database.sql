-- create_database.sql: an empty database for the demo to load into. A template: the name is
-- filled in as a psycopg.sql.Identifier. Cannot run in a transaction block.
CREATE DATABASE {name}
