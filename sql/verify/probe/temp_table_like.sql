-- temp_table_like.sql: an empty temporary table with the columns of a table (LIKE copies no
-- rows). A template: the temporary name and the table (identifiers) come from psycopg.sql.
-- Reads the table's definition only; takes ACCESS SHARE on it.
CREATE TEMP TABLE {name} (LIKE {table})
