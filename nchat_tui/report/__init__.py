"""The session journal as Markdown, and evidence in words."""
