"""The two seams between the monitor core and the screens, as Protocols.

The dashboard and the compact panel know a monitor only through these: a ``Sampler`` that
hands out samples, and ``BackendActions`` that signal or EXPLAIN a backend. The real
``nchat_tui.monitor.sampler.Monitor`` is both; the test fakes (``tests/monitor_fakes.py``)
implement each; mypy checks the real class against these contracts and
``tests/test_fake_shapes.py`` keeps the fakes' signatures equal to the real ones. Runtime
checkable: the dashboard takes a sampler that is also ``BackendActions`` as its actions.
No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from nchat_tui.monitor.model import ActionResult, ExplainResult, Sample


@runtime_checkable
class Sampler(Protocol):
    """Hands out samples; called from a worker thread, one call at a time per poller."""

    def sample(self, panels: Iterable[str] | None = None) -> Sample:
        """One sample of the server. ``panels``: the optional panels to query this time
        (``tables``, ``slow_queries``, ``progress``, ``replication``; None: all); the others
        carry their last data. Never raises for database errors: a failed panel keeps its
        last data and is listed in ``Sample.stale``; no connection at all sets ``error``."""
        ...

    def prefetch(self, panels: Iterable[str] | None = None) -> None:
        """Start connecting and taking the first sample now (in a thread), while the caller
        draws its screen; the next ``sample()`` returns that sample. May do nothing."""
        ...

    def refresh_size(self, force: bool = False) -> bool:
        """Slow upkeep a poller runs after delivering a sample, in its worker thread (the
        database size, at most every so often); True if it ran. Never raises."""
        ...


@runtime_checkable
class BackendActions(Protocol):
    """Guarded actions on other sessions. Each refuses the tool's own sessions, asks
    ``confirm_privileged`` for superuser and replication sessions, and raises an
    ``nchat_tui.errors.NchatError`` (with a hint) when it refuses or fails."""

    def cancel_backend(self, pid: int, *, confirm_privileged: bool = False) -> ActionResult:
        """Cancel the running statement of ``pid`` (pg_cancel_backend)."""
        ...

    def terminate_backend(self, pid: int, typed_pid: str, *,
                          confirm_privileged: bool = False) -> ActionResult:
        """End the session ``pid`` (pg_terminate_backend); ``typed_pid`` must repeat it."""
        ...

    def explain(self, query: str, *, analyze: bool = False) -> ExplainResult:
        """A plan of ``query`` that never changes data: a plain EXPLAIN, a generic plan for
        ``$n`` parameters (PostgreSQL 16+), or with ``analyze`` a plain SELECT run in a
        read-only transaction that is rolled back."""
        ...
