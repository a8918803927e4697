-- current_role.sql: the role this session runs as. One row. No lock.
SELECT current_user
