-- drop_database.sql: drop the rehearsal's scratch database once its sessions are ended (servers
-- older than PostgreSQL 13). A template: the name is filled in as a psycopg.sql.Identifier.
-- Takes an exclusive lock on the database.
DROP DATABASE IF EXISTS {name}
