-- create_index.sql: an index on a temporary table. A template: UNIQUE or nothing (fixed text),
-- the index and table names (identifiers) and what follows USING in pg_get_indexdef's output
-- (checked to parse as one CREATE INDEX) come from psycopg.sql.
CREATE {unique}INDEX {name} ON pg_temp.{table} USING {definition}
