-- replication.sql: replicas streaming from this server and, on a standby, its own replay lag.
-- Returns one row: in_recovery, replay_delay_s (standby only), and replicas as a JSON array
-- (application, client, state, sync state, write/flush/replay lag seconds, lag bytes behind
-- the current WAL position). pg_current_wal_lsn() is not called on a standby (it errors
-- there). Without pg_monitor the replica details read as NULL. PostgreSQL 12+. No locks.
SELECT
    pg_is_in_recovery() AS in_recovery,
    CASE WHEN pg_is_in_recovery()
         THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
        AS replay_delay_s,
    coalesce((
        SELECT json_agg(json_build_object(
            'pid', r.pid,
            'application', r.application_name,
            'client_addr', host(r.client_addr),
            'state', r.state,
            'sync_state', r.sync_state,
            'write_lag_s', extract(epoch FROM r.write_lag)::float8,
            'flush_lag_s', extract(epoch FROM r.flush_lag)::float8,
            'replay_lag_s', extract(epoch FROM r.replay_lag)::float8,
            'lag_bytes', CASE WHEN pg_is_in_recovery() THEN NULL
                              ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint END
        ) ORDER BY r.application_name)
        FROM pg_stat_replication r), '[]'::json) AS replicas,
    coalesce((
        SELECT json_agg(json_build_object(
            'slot', s.slot_name, 'type', s.slot_type, 'active', s.active,
            'retained_bytes', CASE WHEN pg_is_in_recovery() OR s.restart_lsn IS NULL THEN NULL
                                   ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint END
        ) ORDER BY s.slot_name)
        FROM pg_replication_slots s), '[]'::json) AS slots
