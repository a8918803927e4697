-- create_domain.sql: a temporary domain over a base type. A template: the name (an identifier)
-- and the base type (format_type's output, checked to parse as one CREATE DOMAIN) come from
-- psycopg.sql.
CREATE DOMAIN pg_temp.{name} AS {base}
