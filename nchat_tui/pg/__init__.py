"""PostgreSQL and its tools: the target and its connections, guarded queries, the shipped SQL,
pg_dump/pg_restore/psql, a local cluster, the schema snapshot and object keys.
"""
