-- create_database.sql: create an empty database from template0 (a restore target must not inherit
-- template1's objects), with the source's encoding and locale. A template: the name (an
-- identifier), encoding, collation and ctype (literals) come from psycopg.sql. Any PostgreSQL
-- 9.x+.
-- Cannot run in a transaction block; briefly locks template0.
CREATE DATABASE {name} TEMPLATE template0 ENCODING {encoding} LC_COLLATE {collate} LC_CTYPE {ctype}
