-- database_info.sql: one database's owner, whether it accepts connections, its connection
-- limit, ACL and per-database settings (ALTER DATABASE ... SET), by the name parameter. Zero or
-- one row. PostgreSQL 9.x+. Catalog reads only: takes no lock.
SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner, d.datallowconn AS allow_connections,
       d.datconnlimit AS connection_limit, d.datacl::text[] AS acl,
       (SELECT s.setconfig FROM pg_db_role_setting s
         WHERE s.setdatabase = d.oid AND s.setrole = 0) AS settings
FROM pg_database d
WHERE d.datname = %(name)s
