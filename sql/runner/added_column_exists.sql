-- added_column_exists.sql: whether a column a migration added exists (parameters relation, as
-- the migration wrote it, and column). One row. Catalog reads only: no lock.
SELECT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = to_regclass(%(relation)s) AND attname = %(column)s AND NOT attisdropped
)
