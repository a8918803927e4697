"""Reusable widgets shown on several screens."""
