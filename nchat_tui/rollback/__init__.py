"""The ways back: the decision's facts, the restore swap, the down rollback."""
