"""The guided upgrade: the session, the checklist engine, its steps, start-up recovery, psql."""
