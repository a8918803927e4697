-- disk_facts.sql: what the disk check needs from the server: the database size, the
-- data directory when this role may read it (pg_settings hides it otherwise: NULL), and the
-- largest table and index of this database by catalog page count (no lock needed).
-- Returns one row. PostgreSQL 12+. No relation locks.
SELECT pg_database_size(current_database()) AS database_size,
       (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS data_directory,
       (SELECT json_build_object('name', c.oid::regclass::text,
                                 'bytes', c.relpages::bigint * current_setting('block_size')::int)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         ORDER BY c.relpages DESC LIMIT 1) AS largest_table,
       (SELECT json_build_object('name', c.oid::regclass::text,
                                 'bytes', c.relpages::bigint * current_setting('block_size')::int)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         ORDER BY c.relpages DESC LIMIT 1) AS largest_index
