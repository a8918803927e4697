-- set_password.sql: a role's password as its SCRAM verifier (never the password itself, which
-- pg_stat_statements would keep). A template: the role (an identifier) and the verifier (a
-- literal) come from psycopg.sql.
ALTER ROLE {role} PASSWORD {verifier}
