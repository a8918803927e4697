-- system_identifier.sql: the cluster's unique system identifier (tells "this database" from a
-- same-named one on another cluster). One row. PostgreSQL 9.6+; needs EXECUTE on
-- pg_control_system(). Takes no lock.
SELECT system_identifier::text AS system_identifier FROM pg_control_system()
