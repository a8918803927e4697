-- migration_privileges.sql: whether the current role can run the v0.4.0 migration: CREATE on
-- schema public, ownership of the tables it alters (nchat_messages, nchat_channels: ALTER
-- TABLE needs the owner) and REFERENCES on the tables its foreign keys point at
-- (nchat_users, nchat_messages). Returns one row per table that exists, with its owner.
-- PostgreSQL 12+. Catalog reads only, no relation locks.
SELECT t.name AS "table", t.need,
       c.oid IS NOT NULL AS exists,
       pg_get_userbyid(c.relowner) AS owner,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       CASE WHEN c.oid IS NULL THEN NULL
            WHEN t.need = 'owner' THEN pg_has_role(current_user, c.relowner, 'USAGE')
            ELSE has_table_privilege(c.oid, 'REFERENCES') END AS ok,
       has_schema_privilege('public', 'CREATE') AS can_create_in_public
FROM (VALUES ('nchat_messages', 'owner'), ('nchat_channels', 'owner'),
             ('nchat_users', 'references')) AS t(name, need)
LEFT JOIN pg_class c ON c.oid = to_regclass('public.' || t.name)
ORDER BY t.name
