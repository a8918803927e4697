"""The compact monitor panel shown on every phase screen: three lines the operator glances at.

Database size; connections by state with a sparkline; the longest lock wait (who waits for
what, and how many queue); the top slow query. Fed by ``update_sample(sample)``; when built
with a ``sampler`` it polls it itself in a thread worker, re-arming a timer after each
sample, and skips sampling while its screen is not the visible one. No SQL here.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from nchat_tui.fmt import secs_short as fmt_secs
from nchat_tui.fmt import size_terse as fmt_size
from nchat_tui.monitor.model import Sample
from nchat_tui.monitor.sampler import lock_wait_text
from nchat_tui.monitor.seams import Sampler
from nchat_tui.screens.dashboard import (
    STATE_TINY,
    between_samples,
    one_line,
    sparkline,
    statement_line,
)


class PanelSampled(Message):
    """The panel's own poll brought a sample."""

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample
        """The sample (see ``nchat_tui.monitor.model``)."""


class MonitorPanel(Widget):
    """Three lines of live state. ``sampler`` is optional: without it, call ``update_sample``."""

    DEFAULT_CSS = """
    MonitorPanel {
        height: 4;
        border-top: solid $primary-darken-2;
        padding: 0 1;
    }
    MonitorPanel > Static { height: 1; }
    MonitorPanel #mp-locks.-waiting { color: $warning; text-style: bold; }
    MonitorPanel.-stale #mp-head { color: $error; }
    """

    has_sample: reactive[bool] = reactive(False)
    """Whether any sample has arrived yet."""

    def __init__(self, sampler: Sampler | None = None, interval: float = 2.0, *,
                 name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.sampler = sampler
        self.interval = interval
        self.last: Sample | None = None
        self._conn_hist: deque[float] = deque(maxlen=60)
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("monitor: waiting for the first sample…", id="mp-head")
        yield Static("", id="mp-locks")
        yield Static("", id="mp-slow")

    def on_mount(self) -> None:
        if self.sampler is not None:
            self.call_after_refresh(self._tick)

    # -- polling ----------------------------------------------------------------------------
    def _tick(self) -> None:
        self._timer = None
        if not self.is_mounted:
            return
        if self.screen.is_current:
            self._poll()
        else:  # hidden behind another screen: no queries, look again later
            self._timer = self.set_timer(self.interval, self._tick)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-panel",
          description="monitor panel sample")
    def _poll(self) -> None:
        sampler = self.sampler
        assert sampler is not None  # polling starts only with a sampler
        try:
            sample = sampler.sample(panels={"slow_queries"})  # its three lines only
        except Exception as exc:
            sample = Sample.nothing(f"{type(exc).__name__}: {exc}")
        self.post_message(PanelSampled(sample))
        between_samples(sampler)

    def on_panel_sampled(self, message: PanelSampled) -> None:
        message.stop()
        self.update_sample(message.sample)
        self._timer = self.set_timer(self.interval, self._tick)

    # -- rendering --------------------------------------------------------------------------
    def update_sample(self, s: Sample) -> None:
        """Show one sample (as ``Sampler.sample()`` returns)."""
        self.last = s
        self.has_sample = True
        c = s.connections
        if c is not None:
            self._conn_hist.append(float(c.this_database))
        by_state = c.by_state if c is not None else {}
        states = " ".join(f"{v} {STATE_TINY.get(k, k)}" for k, v in by_state.items())
        head = Text()
        if s.error:
            head.append(f"monitor: {one_line(s.error, 70)}", style="bold")
        else:
            head.append(f"db {fmt_size(s.database_size)}", style="bold")
            head.append(f"  conns {c.total if c is not None else '-'}/"
                        f"{c.max_connections if c is not None else '-'} {states} ")
            head.append(sparkline(list(self._conn_hist), 16), style="bold")
            if s.tps is not None:
                head.append(f"  {s.tps:.0f} tps")
            if s.stale:
                head.append(f"  STALE {', '.join(s.stale)}", style="bold")
        self.set_class(bool(s.stale or s.error), "-stale")
        self.query_one("#mp-head", Static).update(head)

        locks = s.locks
        lw = locks.longest
        lock_line = self.query_one("#mp-locks", Static)
        if lw:
            queue = next((n.queue for n in locks.rows if n.pid in lw.blocked_by), 0)
            behind = lw.blocked_by[0] if lw.blocked_by else None
            lock_line.update(one_line(
                f"lock wait {fmt_secs(lw.wait_s)}: pid {lw.pid} {lock_wait_text(lw)}"
                + (f", behind {behind}" if behind is not None else "")
                + f", {queue} queued", 78))
            lock_line.set_class(True, "-waiting")
        else:
            lock_line.update("no lock waits")
            lock_line.set_class(False, "-waiting")

        sq = s.slow_queries
        slow_line = self.query_one("#mp-slow", Static)
        if sq.unavailable:
            slow_line.update(one_line(f"slow queries unavailable ({sq.state}): "
                                      f"{sq.fix}", 78))
        else:
            top = next(iter(sq.top_by_mean), None)
            slow_line.update(one_line(f"slowest {top.mean_ms:.0f} ms mean, {top.calls} calls: "
                                      + statement_line(top, 78), 78)
                             if top else "no statements yet")

