-- domain_add_constraint.sql: add a constraint to a temporary domain. A template: the domain and
-- constraint names (identifiers) and the definition (checked to parse as one ALTER DOMAIN) come
-- from psycopg.sql.
ALTER DOMAIN pg_temp.{name} ADD CONSTRAINT {constraint} {definition}
