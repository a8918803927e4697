-- create_index_phase.sql: the phase of a session's running CREATE INDEX (parameter pid). One
-- row while it runs, none otherwise. PostgreSQL 12+. Reads a statistics view: no lock.
SELECT phase FROM pg_stat_progress_create_index WHERE pid = %(pid)s
