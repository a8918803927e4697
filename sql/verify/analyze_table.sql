-- analyze_table.sql: ANALYZE one table, asked for by the operator before row counts are
-- estimated (fresh reltuples and relpages). A template: the table placeholder is filled with
-- psycopg.sql.Identifier(schema, name). Takes SHARE UPDATE EXCLUSIVE on the table (writes go
-- on; another VACUUM/ANALYZE or DDL waits). A role that may not analyze it gets a WARNING
-- ("skipping"), not an error: the caller watches for it.
ANALYZE {table}
