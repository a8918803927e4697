"""``python -m nchat_tui``: the same entry point as the ``nchat-tui`` console script."""

from nchat_tui.cli.main import main

raise SystemExit(main())
