-- rename_database.sql: the loaded database takes the demo's name. A template: both names are
-- filled in as psycopg.sql.Identifier. Nobody may be connected to it.
ALTER DATABASE {name} RENAME TO {new_name}
