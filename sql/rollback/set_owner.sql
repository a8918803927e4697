-- set_owner.sql: give a database to a role (a template: both names are
-- identifiers; a restored copy belongs to whoever
-- created it). Needs a superuser or membership in the new owner role. Any PostgreSQL.
ALTER DATABASE {name} OWNER TO {owner}
