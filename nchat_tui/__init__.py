"""nchat-tui: guided, verified, resumable nChat database upgrades.

The package root holds the core (no Textual) and the CLI. The Textual screens live in
``nchat_tui.screens`` and the SQL files in ``nchat_tui/sql``; nothing outside ``screens``
may import Textual.
"""

__version__ = "0.1.0"
