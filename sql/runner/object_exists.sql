-- object_exists.sql: whether a relation or a type of this name exists (parameter name, as a
-- migration wrote it: schema-qualified or resolved on the search_path). One row. Catalog
-- reads only: no lock.
SELECT to_regclass(%(name)s) IS NOT NULL OR to_regtype(%(name)s) IS NOT NULL
