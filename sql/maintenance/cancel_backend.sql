-- cancel_backend.sql: cancel the statement running in backend pid (a parameter: our own
-- maintenance worker, on the operator's cancel). Returns whether a signal was sent. Takes no lock.
SELECT pg_cancel_backend(%(pid)s) AS cancelled
