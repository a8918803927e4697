"""After a migration: verification against the before-snapshot, row counts, maintenance."""
