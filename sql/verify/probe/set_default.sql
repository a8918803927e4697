-- set_default.sql: a column default on a temporary table. A template: the table and column
-- (identifiers) and the expression (checked to parse as one ALTER TABLE ... SET DEFAULT) come
-- from psycopg.sql.
ALTER TABLE pg_temp.{name} ALTER COLUMN {column} SET DEFAULT {expression}
