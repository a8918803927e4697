-- table_add_constraint.sql: add a check or exclusion constraint to a temporary table. A
-- template: the table and constraint names (identifiers) and the definition (checked to parse
-- as one ALTER TABLE ... ADD CONSTRAINT) come from psycopg.sql.
ALTER TABLE pg_temp.{name} ADD CONSTRAINT {constraint} {definition}
