"""The embedded demo database and its workload."""
