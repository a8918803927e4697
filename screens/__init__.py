"""Textual screens of nchat-tui. The only part of the package that imports Textual."""
