-- create_view.sql: a temporary view. A template: the name (an identifier) and the query
-- (checked to parse as one CREATE VIEW) come from psycopg.sql.
CREATE TEMP VIEW {name} AS {definition}
