"""nChat v0.4.0 (migrations 013-016): its own checks."""
