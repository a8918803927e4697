-- export_snapshot.sql: the id of this REPEATABLE READ transaction's snapshot, for
-- pg_dump --snapshot. Must be the transaction's first query. PostgreSQL 9.2+. Takes no lock.
SELECT pg_export_snapshot() AS snapshot_id, txid_current_snapshot()::text AS txid_snapshot,
       now() AS taken_at
