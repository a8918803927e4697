-- timeouts.sql: the timeouts a migration session of this role in this database starts with,
-- and where they come from (role/database settings in pg_db_role_setting), plus the size of
-- public.nchat_messages (the table the v0.4.0 indexes are built on) from catalog page counts.
-- Returns one row. PostgreSQL 12+. Catalog and settings reads only, no relation locks.
SELECT current_setting('statement_timeout') AS statement_timeout,
       current_setting('lock_timeout') AS lock_timeout,
       current_setting('idle_in_transaction_session_timeout') AS idle_timeout,
       (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS statement_timeout_setting,
       (SELECT source FROM pg_settings WHERE name = 'statement_timeout') AS statement_timeout_source,
       (SELECT json_agg(json_build_object(
                  'role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END,
                  'database', (SELECT datname FROM pg_database WHERE oid = s.setdatabase),
                  'settings', s.setconfig))
          FROM pg_db_role_setting s
         WHERE (s.setdatabase = 0 OR s.setdatabase =
                   (SELECT oid FROM pg_database WHERE datname = current_database()))
           AND (s.setrole = 0 OR pg_has_role(current_user, s.setrole, 'MEMBER'))
           AND array_to_string(s.setconfig, ',') ~ 'statement_timeout|lock_timeout')
           AS overrides,
       (SELECT c.relpages::bigint * current_setting('block_size')::int
          FROM pg_class c WHERE c.oid = to_regclass('public.nchat_messages')) AS messages_bytes,
       (SELECT sum(ic.relpages)::bigint * current_setting('block_size')::int
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = to_regclass('public.nchat_messages')) AS messages_index_bytes
