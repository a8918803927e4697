-- create_trigger.sql: a trigger on a temporary table. A template: CONSTRAINT or nothing (fixed
-- text), the trigger name (an identifier), its timing and events, the table (an identifier) and
-- the rest of pg_get_triggerdef's output (checked to parse as one CREATE TRIGGER) come from
-- psycopg.sql.
CREATE {constraint}TRIGGER {name} {timing} ON pg_temp.{table} {definition}
