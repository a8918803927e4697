-- demo_loaded.sql: whether this database holds the nChat tables and a Go CLI ledger (a loaded
-- demo, whatever was run since). One row. Catalog reads only: no lock.
SELECT to_regclass('public.nchat_messages') IS NOT NULL
   AND to_regclass('nself_ops.migrations') IS NOT NULL
