-- pg_activity-like header figures (after its documented behaviour): the size of every
-- database, summed, plus the server's counters it shows on top. Takes no relation locks.
SELECT sum(pg_database_size(d.datname))::bigint AS total_size,
       (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database) AS xacts,
       (SELECT count(*) FROM pg_stat_activity) AS backends
FROM pg_database d
WHERE d.datallowconn
