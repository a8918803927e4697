"""Proven backups: the dump, its manifest, verification, restore into a new database."""
