-- create_database.sql: create an empty database from template0 (a restore target must not
-- inherit template1's objects), with the source's encoding and locale. A template: {name},
-- {encoding}, {collate}, {ctype} are psycopg.sql literals/identifiers. Any PostgreSQL 9.x+.
-- Cannot run in a transaction block; briefly locks template0.
CREATE DATABASE {name} TEMPLATE template0 ENCODING {encoding} LC_COLLATE {collate} LC_CTYPE {ctype}
