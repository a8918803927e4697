-- set_owner.sql: give database {name} to role {owner} (a restored copy belongs to whoever
-- created it). Needs a superuser or membership in the new owner role. Any PostgreSQL.
ALTER DATABASE {name} OWNER TO {owner}
