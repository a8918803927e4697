"""What survives a kill: the fsync'd journal, full and atomic file writes, named fail points."""
