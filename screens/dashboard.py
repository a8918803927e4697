"""The full monitor dashboard: sessions, locks, tables, slow queries and progress, live.

It renders the ``Sample`` a ``Sampler`` reports and asks ``BackendActions`` to act (the seams
of ``nchat_tui.monitor.seams``; normally both are ``nchat_tui.monitor.sampler.Monitor``, and
the actions default to the sampler itself when it offers them). It holds no SQL. One sampling
thread runs for the screen's life: the next sample is due ``interval`` after the last one was
drawn, so samples never overlap, and none is due while the screen is hidden or paused. Tables
are updated by keyed rows inside ``batch_update`` (changed cells only, never ``clear()``), so
the cursor stays on its row and nothing flickers.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

import humanize
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.driver import Driver
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.renderables.styled import Styled
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    DataTable,
    Input,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.data_table import ColumnKey, RowKey

from nchat_tui.errors import NchatError
from nchat_tui.fmt import age_short as fmt_age
from nchat_tui.fmt import count_short as fmt_count
from nchat_tui.fmt import pct as fmt_pct
from nchat_tui.fmt import secs_short as fmt_secs
from nchat_tui.fmt import size_short as fmt_short_size
from nchat_tui.monitor.model import (
    LockRow,
    Progress,
    Record,
    Sample,
    Session,
    Statement,
    Table,
)
from nchat_tui.monitor.querytext import monitor_session, monitoring_sample
from nchat_tui.monitor.sampler import SessionFilter, lock_held_text, lock_wait_text
from nchat_tui.monitor.seams import BackendActions, Sampler
from nchat_tui.quickstart import resume_gc
from nchat_tui.screens.dialogs.monitor import ActionConfirmModal, PlanModal, TypePidModal
from nchat_tui.screens.driver import quiet_driver_class
from nchat_tui.screens.widgets.keybar import KeyBar
from nchat_tui.screens.widgets.textlines import TextLines

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
FULL_EVERY_S = 10.0
RATES_EVERY_S = 1.9
"""Rates and charts alone are redrawn at most this often (events at once)."""
"""Every this many seconds a sample queries every panel, not only the visible tab's."""
TAB_PANELS = {"tables": ("tables",), "queries": ("slow_queries",), "progress": ("progress",)}
BARS = "▁▂▃▄▅▆▇█"


def between_samples(sampler: Sampler) -> None:
    """Run a sampler's slow upkeep after its sample was delivered, in the same worker thread.

    For the Monitor that is the database size (``refresh_size``): pg_database_size() stats
    every file, so it runs here, when due, instead of inside a sample. A failure shows as a
    stale panel in the next sample.
    """
    sampler.refresh_size()


def sparkline(values: list[float], width: int) -> str:
    """A one-line text sparkline of the last ``width`` values, scaled to their maximum."""
    vals = values[-width:]
    if not vals:
        return ""
    top = max(vals) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in vals)
HISTORY = 120


# -- formatting -------------------------------------------------------------------------------
def fmt_session_age(state: str, age: Any) -> str:
    """A session's age at the resolution an operator reads it: seconds under a minute,
    minutes under an hour, then hours; an idle session's under a minute is not shown (it
    changes with every query the application sends). A coarse figure that did not change
    is not redrawn: on a quiet server the sessions table then stays still."""
    if age is None:
        return "-"
    a = max(0.0, float(age))
    if state == "idle" and a < 60:
        return ""
    if a < 60:
        return f"{a:.0f}s"
    if a < 3600:
        return f"{int(a // 60)}m"
    return f"{int(a // 3600)}h{int(a % 3600 // 60):02d}"


def _session_order(a: Session) -> tuple[int, float]:
    xact = a.xact_age_s
    if xact is not None and float(xact) >= 5:
        return (0, -float(xact))
    return (1, float(a.pid or 0))


OWN_SQL = re.compile(r"\s*--\s*([\w./-]+\.sql):")
"""The header comment every SQL file of ours starts with (``-- activity.sql: ...``)."""

EMPTY_NOTES = {
    "sessions": "No other session is connected.",
    "locks": "No session waits for a lock, and none blocks another.",
    "progress": "Nothing to follow: no VACUUM, ANALYZE, CREATE INDEX, CLUSTER or COPY is running.",
}


def _quiet_monitor(a: Session) -> bool:
    """Another monitor's session, idle or caught in a brief sample of the statistics: not
    listed unless asked for (m). Listed, like any session, when it does anything else."""
    return (a.state == "idle" and monitor_session(a.application, a.query)) or \
        monitoring_sample(a.application, a.query, a.state, a.query_age_s, a.wait_event_type)


def one_line(text: Any, width: int) -> str:
    t = " ".join(str(text or "").split())
    return t if len(t) <= width else t[: width - 1] + "…"


def query_line(sql_text: Any, width: int) -> str:
    """A query on one line without its ``--`` comment lines (header comments say nothing).

    Our own monitoring queries open with ``-- name.sql:``: they are labelled as ours instead.
    """
    text = str(sql_text or "")
    ours = OWN_SQL.match(text)
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("--")]
    body = " ".join(lines)
    if ours and not body:
        # pg_stat_statements' text, cut to 300 characters, may hold only our header comment:
        # its first line says what the query is for.
        body = text[ours.end():].splitlines()[0].strip()
    return one_line(f"[nchat-tui {ours.group(1)}] {body}" if ours else body or text, width)


def statement_line(q: Statement, width: int) -> str:
    """A pg_stat_statements row on one line: its text without the header comment, labelled
    with the tool that runs it when known; a text cut inside its header comment says so."""
    body = str(q.query or "")
    if q.source:
        return one_line(f"[{q.source}] {body}", width)
    if q.monitoring:
        return one_line(f"[monitoring] {body}", width)
    if body.strip():
        return query_line(body, width)
    if q.comment:
        return one_line(f"(text cut in its comment: {q.comment})", width)
    return "(no text)"


def bucket_ms(ms: Any) -> str:
    """A sample's cost as a coarse bound (<= 5 ms, <= 10 ms...): the status line then changes
    when the cost does, not with every sample's jitter."""
    if ms is None:
        return "-"
    for bound in (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if float(ms) <= bound:
            return f"≤{bound} ms"
    return f"{float(ms) / 1000:.0f} s"


STATE_SHORT = {"idle in transaction": "idle in tx", "idle in transaction (aborted)": "aborted tx",
               "fastpath function call": "fastpath"}
STATE_TINY = {"active": "act", "idle": "idle", "idle in transaction": "idle-tx",
              "idle in transaction (aborted)": "aborted-tx", "hidden": "hidden"}


@dataclass(frozen=True)
class SortCell:
    """A table cell that shows ``display`` and sorts by ``raw`` (numbers sort as numbers)."""

    display: str
    raw: Any = field(default=None, compare=False)
    """Sort value; not compared, so a value that still shows the same text repaints nothing."""
    justify: str = "left"
    style: str = ""
    order: int = 0
    """The row's position in the sample (set on the first cell), for "sample order"."""

    def __rich__(self) -> Text:
        return Text(self.display, style=self.style, justify=self.justify,  # type: ignore[arg-type]
                    no_wrap=True, overflow="ellipsis")

    @property
    def sort_key(self) -> tuple[int, Any]:
        raw = self.display if self.raw is None else self.raw
        if isinstance(raw, int | float):
            return (0, raw)
        return (1, str(raw))


def num(display: str, raw: Any, style: str = "") -> SortCell:
    return SortCell(display, raw if raw is not None else -1, "right", style)


def txt(display: str, style: str = "") -> SortCell:
    return SortCell(display, display, "left", style)


class LiveTable(DataTable[Any]):
    """A DataTable whose cell updates repaint the rows they changed, not the whole table.

    DataTable keys every render cache on one update counter that each ``update_cell`` bumps,
    so one ticking age re-rendered every cell of every visible row (about 7 ms a sample, most
    of an idle dashboard's CPU). Here ``update_cell`` only records the row; ``commit_updates``
    (the dashboard calls it once a sample) evicts those rows' cached renders in one pass and
    refreshes their regions, or, when most rows changed, invalidates everything once as
    DataTable would. Sorting, adding and removing rows keep DataTable's own invalidation. The
    render caches are sized for a monitor's tables (DataTable's hold 10,000 cells).

    A data cell's render is also kept by what it shows (``_render_cell``), not by that counter:
    under ``pgbench -c 50`` sessions come, go and change every second, each change invalidated
    every cell, and rendering them again through Rich was most of the dashboard's CPU; the pid,
    user, database and application of a row, and many of its other cells, had not changed.
    """

    _removing = False
    """Inside remove_row (its layout request is dropped)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._extent = Size(0, 0)
        self._cell_render_cache = LRUCache(2000)
        self._row_render_cache = LRUCache(400)
        self._line_cache = LRUCache(400)
        self._dirty_rows: set[RowKey] = set()
        self._dirty_cells: set[tuple[RowKey, ColumnKey]] = set()
        self._shown_cache: LRUCache[tuple[Any, ...], list[list[Segment]]] = LRUCache(2000)

    def validate_virtual_size(self, size: Size) -> Size:
        """The scrollable size, never smaller than the box the rows are drawn in.

        Each row added or removed changes a DataTable's virtual size, and a new virtual size
        lays the whole screen out again and repaints every widget on it (about as dear as the
        sample itself). While the rows fit in the box nothing scrolls, so the size stays the
        box's and a session that comes and goes repaints its rows only; scrollbars appear
        exactly when they did (the content outgrows the box)."""
        changed, self._extent = size != self._extent, size
        box = self.container_size
        padded = Size(max(size.width, box.width), max(size.height, box.height))
        if changed and padded == self.virtual_size:
            self.refresh()  # rows came or went inside the box: repaint it, without a layout
        return padded

    def on_resize(self) -> None:
        # a new box: measure the padding again against it
        self.virtual_size = self._extent

    def remove_row(self, row_key: RowKey | str) -> None:
        """DataTable's, without the layout pass of the whole screen it asks for: the table's
        box does not depend on its rows, and its scrollable size follows on its own (see
        ``validate_virtual_size``). A session that ended relaid the screen out, every time."""
        self._removing = True
        try:
            super().remove_row(row_key)
        finally:
            self._removing = False

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        if layout and self._removing:
            layout = False  # remove_row's: see there
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *,
                    update_width: bool = False) -> None:
        rk = row_key if isinstance(row_key, RowKey) else RowKey(row_key)
        ck = column_key if isinstance(column_key, ColumnKey) else ColumnKey(column_key)
        if update_width or rk not in self._row_locations or ck not in self._column_locations:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        self._data[rk][ck] = value
        self._dirty_rows.add(rk)
        self._dirty_cells.add((rk, ck))

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """A data cell as DataTable renders it, from a cache keyed by what the cell shows and
        how (text, style, width, cursor, hover), so that a cell that did not change is not
        rendered again when the table's update counter moves (a row came, went or moved, the
        order changed). The row and column DataTable puts in each segment's meta (what a
        click reads) are added to the cached lines, as they depend on where the row is now."""
        if row_index < self.fixed_rows or column_index < self.fixed_columns:
            # the header (-1), the row labels (-1) and fixed cells: DataTable's own way
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None else None
        value = (self._data.get(row_key, {}).get(column_key)
                 if row_key is not None and column_key is not None else None)
        if row is None or row.height != 1 or not isinstance(value, SortCell):
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        key = (value.display, value.justify, value.style, width, base_style, cursor, hover,
               self.show_cursor, self._show_hover_cursor, self.cursor_foreground_priority,
               self.cursor_background_priority, self.cell_padding, self._pseudo_class_state)
        lines = self._shown_cache.get(key)
        if lines is None:
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css")
            options = self.app.console_options.update_dimensions(width, 1).update(
                no_wrap=True)
            lines = self.app.console.render_lines(
                Styled(Padding(value, (0, self.cell_padding)),
                       pre_style=base_style + component_style, post_style=post_style),
                options)
            self._shown_cache[key] = lines
        meta = Style.from_meta({"row": row_index, "column": column_index})
        return [[Segment(text, style + meta if style is not None else meta, control)
                 for text, style, control in line] for line in lines]

    def commit_updates(self) -> None:
        """Make the recorded cell updates visible (once a sample, after all of them)."""
        dirty, self._dirty_rows = self._dirty_rows, set()
        cells, self._dirty_cells = self._dirty_cells, set()
        if not dirty:
            return
        if len(dirty) > max(4, self.row_count // 3):
            self._update_count += 1  # most rows changed: DataTable's own invalidation
            self.refresh()
            return
        indexes = {self._row_locations.get(rk) for rk in dirty}
        # only the changed cells are rendered again (a ticking age is one cell of eleven:
        # through Rich, the cells were most of a row's repaint); the rows join them again
        cell_cache: Any = self._cell_render_cache
        for key in [k for k in cell_cache.keys() if (k[0], k[1]) in cells]:  # noqa: SIM118
            cell_cache.discard(key)
        row_cache: Any = self._row_render_cache
        for key in [k for k in row_cache.keys() if k[0] in dirty]:  # noqa: SIM118 (LRUCache)
            row_cache.discard(key)
        renderables: Any = self._row_renderable_cache
        for key in [k for k in renderables.keys() if k[1] in indexes]:  # noqa: SIM118
            renderables.discard(key)
        self._line_cache.clear()  # keyed by screen line: rebuilt from the row caches
        for index in indexes:
            if index is not None:
                self.refresh_row(index)


# -- messages ---------------------------------------------------------------------------------
class SampleTaken(Message):
    """A sample arrived from the poll worker."""

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample
        """The sample (see ``nchat_tui.monitor.model``)."""


class SampleFailed(Message):
    """The sampler raised (a sampler that is not our Monitor, or a bug)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
        """One line: what failed."""


class ActionFinished(Message):
    """A cancel or terminate came back from the core."""

    def __init__(self, action: str, pid: int, ok: bool, detail: str) -> None:
        super().__init__()
        self.action = action
        """``cancel`` or ``terminate``."""
        self.pid = pid
        """The backend it was aimed at."""
        self.ok = ok
        """Whether PostgreSQL signalled it."""
        self.detail = detail
        """What to tell the operator."""


@dataclass(frozen=True)
class Backend:
    """The session an action aims at: a Sessions row, or a Locks row completed by its
    session's (whether it is a superuser's or a replication session)."""

    pid: int
    user: str | None
    application: str | None
    state: str | None
    query: str | None
    own: bool
    superuser: bool | None
    backend_type: str | None


@dataclass
class TableSpec:
    """One tab's table: its columns (key, label) and its sort state."""

    columns: list[tuple[str, str]]
    sort_column: str | None = None
    reverse: bool = False
    rows: dict[str, Record] = field(default_factory=dict)
    """The record behind each row key (a Session, LockRow, Table, Statement or Progress)."""
    shown: list[tuple[str, list[SortCell]]] = field(default_factory=list)
    """The rows as last synced to the table: an equal list needs no table work at all."""


# -- the screen -------------------------------------------------------------------------------
class DashboardScreen(Screen[None]):
    """The live dashboard. ``sampler.sample()`` runs in a thread; ``actions`` acts."""

    CSS_PATH = "dashboard.tcss"
    COMPONENT_CLASSES = {"dash--label", "dash--bars", "dash--alert", "dash--quiet"}
    """Styles of the summary's parts, from the stylesheet (theme variables)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "leave", "Back"),
        Binding("p", "pause", "Pause"),
        Binding("plus,equals_sign", "interval(1)", "Slower", key_display="+"),
        Binding("minus", "interval(-1)", "Faster", key_display="-"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("d", "scope", "This db"),
        Binding("slash,f", "filter", "Filter", key_display="/"),
        Binding("m", "monitoring", "Monitoring", show=False),
        Binding("i", "idle", "Idle sessions", show=False),
        Binding("c", "cancel_backend", "Cancel"),
        Binding("k", "terminate_backend", "Kill"),
        Binding("e", "explain", "Explain", show=False),
        Binding("1", "tab('sessions')", "Sessions", show=False),
        Binding("2", "tab('locks')", "Locks", show=False),
        Binding("3", "tab('tables')", "Tables", show=False),
        Binding("4", "tab('queries')", "Queries", show=False),
        Binding("5", "tab('progress')", "Progress", show=False),
    ]

    paused: reactive[bool] = reactive(False)
    """Polling stopped by the operator (p)."""
    interval: reactive[float] = reactive(2.0)
    """Seconds between the end of one sample and the start of the next."""
    this_database: reactive[bool] = reactive(False)
    """Show the monitored database only (d); the whole server otherwise."""
    show_idle: reactive[bool] = reactive(False)
    """List idle sessions too (i); by default, as in pg_activity, only the ones doing
    something (active, in a transaction, waiting): idle ones are counted in the summary."""
    show_monitoring: reactive[bool] = reactive(False)
    """List other monitors' brief samples in Sessions and monitoring statements (ours,
    pg_activity's, PgHero's...) in Queries (m)."""

    def __init__(self, sampler: Sampler, actions: BackendActions | None = None,
                 interval: float = 2.0, name: str | None = None,
                 id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.sampler = sampler
        self.actions: BackendActions | None = actions if actions is not None else (
            sampler if isinstance(sampler, BackendActions) else None)
        self.set_reactive(DashboardScreen.interval, float(interval))
        self.last: Sample | None = None
        self.samples_taken = 0
        self._pump: threading.Thread | None = None
        self._pump_cond = threading.Condition()
        self._pump_stop = False
        self._due_at: float | None = None
        self._active_tab = "sessions"
        """The visible tab, as the sampling thread reads it (it must not query the DOM)."""
        self._suspended = False
        self._shown: dict[str, Any] = {}
        self._conn_hist: deque[float] = deque(maxlen=HISTORY)
        self._tps_hist: deque[float] = deque(maxlen=HISTORY)
        self._conn_hist_db: deque[float] = deque(maxlen=HISTORY)
        self._tps_hist_db: deque[float] = deque(maxlen=HISTORY)
        self.filter = SessionFilter()
        self._host_columns = False
        self._full_at: float | None = None
        self._stale_tabs: set[str] = set()
        self._costs: deque[float] = deque(maxlen=30)
        self._header_events: tuple[Any, ...] | None = ()
        self._rates_at = -math.inf  # the first sample draws them (monotonic time may be small)
        self._rates_due = True
        self._styles: dict[str, Any] = {}
        self.specs: dict[str, TableSpec] = {
            "sessions": TableSpec([("pid", "pid"), ("db", "db"), ("user", "user"),
                                   ("app", "application"), ("state", "state"),
                                   ("wait", "wait"), ("age", "age"), ("query", "query")]),
            "locks": TableSpec([("pid", "pid"), ("mode", "mode"), ("rel", "relation"),
                                ("wait", "waited"), ("queue", "queue"), ("state", "state"),
                                ("app", "application")]),
            "tables": TableSpec([("table", "table"), ("lock", "lock"), ("total", "total"),
                                 ("heap", "heap"), ("index", "index"), ("toast", "toast"),
                                 ("rows", "rows"), ("dead", "dead"), ("analyzed", "analyzed")]),
            "queries": TableSpec([("calls", "calls Δ"), ("mean", "mean ms"),
                                  ("total", "total ms Δ"), ("all", "calls"),
                                  ("query", "query")]),
            "progress": TableSpec([("kind", "kind"), ("rel", "relation"), ("phase", "phase"),
                                   ("pct", "done"), ("pid", "pid")]),
        }

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("Monitor: waiting for the first sample…", id="dash-title")
        # the summary lines, the chart labels and both sparklines in ONE widget: a sample
        # then repaints one region instead of six (each repaint costs a compositor pass)
        yield TextLines(id="dash-summary")
        with TabbedContent(id="dash-tabs", initial="sessions"):
            for tab_id, title in (("sessions", "1 Sessions"), ("locks", "2 Locks"),
                                  ("tables", "3 Tables"), ("queries", "4 Queries"),
                                  ("progress", "5 Progress")):
                with TabPane(title, id=tab_id):
                    if tab_id == "queries":
                        yield Static("", id="queries-note")
                    if tab_id in EMPTY_NOTES:
                        yield Static("", id=f"{tab_id}-empty", classes="empty-note")
                    table: DataTable[Any] = LiveTable(id=f"{tab_id}-table", cursor_type="row",
                                                      zebra_stripes=False)
                    yield table
        yield Static("", id="dash-detail")
        yield Input(placeholder="filter: db:NAME user:NAME app:NAME state:active min:5s words",
                    id="dash-filter")
        yield Static("", id="dash-status")
        yield KeyBar()

    def on_mount(self) -> None:
        for tab_id, spec in self.specs.items():
            table = self.query_one(f"#{tab_id}-table", DataTable)
            for key, label in spec.columns:
                table.add_column(label, key=key)
        self.query_one("#dash-filter", Input).display = False
        # the signal, not the reactive: Textual applies the new theme's CSS after its own
        # watcher (call_next), and the component styles read before that were the old ones
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._update_status()
        if self.samples_taken == 0:
            # connect and sample in a thread while the screen paints
            self.sampler.prefetch(panels=self._wanted_panels())
        # the first sample after the first paint: a DataTable filled before its first layout
        # keeps a garbled first row (the prefetch above has the sample under way meanwhile)
        self.call_after_refresh(self._schedule, 0)

    # -- polling ----------------------------------------------------------------------------
    # One long-lived thread samples; the screen only says when the next sample is due. After a
    # sample is drawn, the next is due ``interval`` later; paused or hidden, none is due. A
    # timer plus a Textual worker per sample cost the idle dashboard more than the sample (a
    # Worker, its three state messages and a timer task, every second).
    def _schedule(self, delay: float) -> None:
        """The next sample in ``delay`` seconds (0: now); none while paused or hidden."""
        due = None if (self.paused or self._suspended) else time.monotonic() + max(0.0, delay)
        with self._pump_cond:
            self._due_at = due
            self._pump_cond.notify()
        if due is not None and self._pump is None:
            self._pump = threading.Thread(target=self._pump_loop, name="monitor-pump",
                                          daemon=True)
            self._pump.start()

    @property
    def next_sample_due(self) -> float | None:
        """When (time.monotonic()) the next sample starts; None while paused or hidden, or
        while a sample is under way (the next is set when it has been drawn)."""
        return self._due_at

    def _pump_loop(self) -> None:
        while True:
            with self._pump_cond:
                while not self._pump_stop and (
                        self._due_at is None or self._due_at > time.monotonic()):
                    wait = None if self._due_at is None else self._due_at - time.monotonic()
                    self._pump_cond.wait(wait)
                if self._pump_stop:
                    return
                self._due_at = None  # one sample at a time: drawing it sets the next
            try:
                sample = self.sampler.sample(panels=self._wanted_panels())
            except Exception as exc:  # a sampler must not take the dashboard down
                self.post_message(SampleFailed(f"{type(exc).__name__}: {exc}"))
                continue
            self.post_message(SampleTaken(sample))
            try:
                between_samples(self.sampler)
            except Exception:  # shows as a stale panel in the next sample
                pass

    def on_unmount(self) -> None:
        self.app.theme_changed_signal.unsubscribe(self)
        with self._pump_cond:
            self._pump_stop = True
            self._pump_cond.notify()

    def _wanted_panels(self) -> set[str] | None:
        """The optional panels this sample queries: the visible tab's, and all of them every
        FULL_EVERY_S (the hidden tabs stay recent, and a tab opened shows its data at once)."""
        now = time.monotonic()
        wanted = set(TAB_PANELS.get(self._active_tab, ()))
        if self._full_at is None or now - self._full_at >= FULL_EVERY_S:
            self._full_at = now
            # statements only for the Queries tab (opening it samples at once): reading
            # and classifying them is the dearest part of a sample, client side
            wanted |= set(self.KEPT_PANELS)
        if self.last is not None:
            wanted |= self._never_read(self.last)
        return wanted

    @on(SampleTaken)
    def _sample_taken(self, message: SampleTaken) -> None:
        self.apply_sample(message.sample)
        if self.samples_taken == 1:
            # the start is over once the first data is drawn (nchat_tui.quickstart)
            self.call_after_refresh(resume_gc)
        # the first sample may carry the always-read panels only (it is taken while the app
        # starts, for the fastest first data): the others follow at once, not an interval
        # later (once: a sampler that keeps leaving them out is not asked again at once)
        first = self.samples_taken == 1
        self._schedule(0 if first and self._never_read(message.sample) else self.interval)

    #: The optional panels the dashboard keeps recent (statements: only for the Queries tab).
    KEPT_PANELS = ("tables", "progress", "replication")

    def _never_read(self, s: Sample) -> set[str]:
        """The kept panels this sample carries no data for because none was ever asked for
        (a panel that was asked and failed is stale, and waits for the next interval)."""
        return {p for p in self.KEPT_PANELS
                if s.panels_at.get(p) is None and p not in s.stale}

    @on(SampleFailed)
    def _sample_failed(self, message: SampleFailed) -> None:
        self._set("#dash-status", Text(f"sampling failed: {message.error}", style="bold"))
        self._schedule(self.interval)

    def on_screen_suspend(self) -> None:
        self._suspended = True
        self._schedule(0)  # stops the timer

    def on_screen_resume(self) -> None:
        if self._suspended:
            self._suspended = False
            self._schedule(0)

    def watch_paused(self, paused: bool) -> None:
        self.set_class(paused, "-paused")
        self._update_status()
        if paused or self.is_mounted:
            self._schedule(0)  # paused: stops the timer; resumed: samples now

    def watch_interval(self) -> None:
        self._update_status()

    # -- rendering --------------------------------------------------------------------------
    def _set(self, selector: str, content: Any, layout: bool = False) -> None:
        """Update a Static or Label only when its content changed (an idle dashboard then
        writes almost nothing to the terminal), without a layout pass: these lines have a
        fixed size, and re-arranging the whole screen cost more than the sample itself."""
        if self._shown.get(selector) == content:
            return
        self._shown[selector] = content
        self.query_one(selector, Static).update(content, layout=layout)

    def apply_sample(self, s: Sample) -> None:
        """Render one sample (also called directly by tests and by the app)."""
        self.last = s
        self.samples_taken += 1
        self._costs.append(float(s.sample_ms))
        conns = s.connections
        if conns is not None:
            self._conn_hist.append(float(conns.total))
            self._conn_hist_db.append(float(conns.this_database))
        if s.tps is not None:
            self._tps_hist.append(float(s.tps))
            self._tps_hist_db.append(float(s.tps_this_database or 0))
        self._render_all(s)

    #: Tabs rendered only while visible (the others are cheap and feed the summary and the
    #: actions); a hidden one is rendered from the last sample when it is opened.
    LAZY_TABS = ("tables", "queries")

    #: Columns whose figures move with time alone (a session's age ticking, its backend's CPU,
    #: memory and IO): like the summary's rates, a change of these only is drawn at most
    #: every RATES_EVERY_S, in the same repaint as the summary's.
    RATE_COLUMNS: ClassVar[dict[str, frozenset[str]]] = {
        "sessions": frozenset({"age", "cpu", "mem", "io"})}

    def _render_all(self, s: Sample) -> None:
        active = self.active_tab() if self.is_mounted else "sessions"
        now = time.monotonic()
        self._rates_due = now - self._rates_at >= RATES_EVERY_S
        if self._rates_due:
            self._rates_at = now
        with self.app.batch_update():
            self._render_header(s)
            self._render_sessions(s)
            self._render_locks(s)
            self._render_progress(s)
            for tab in self.LAZY_TABS:
                if tab == active:
                    getattr(self, f"_render_{tab}")(s)
                else:
                    self._stale_tabs.add(tab)
            self._update_status()

    def _rerender(self) -> None:
        if self.last is not None and self.is_mounted:
            self._render_all(self.last)

    def _style(self, name: str, partial: bool = False) -> Any:
        """A component class's Rich style, looked up once (CSS lookups cost per sample)."""
        key = f"{name}:{partial}"
        if key not in self._styles:
            self._styles[key] = self.get_component_rich_style(name, partial=partial)
        return self._styles[key]

    def _theme_changed(self, _theme: object) -> None:
        self._styles.clear()
        self._header_events = None  # the summary is built again with the new styles
        self._rerender()

    def _render_header(self, s: Sample) -> None:
        acc = s.access
        ver = str(s.server_version or "?").split(" ")[0]
        scope = (f"database {s.database or '?'}" if self.this_database
                 else "whole server")
        title = Text.assemble(("Monitor ", "bold"), str(s.target or ""),
                              (f"  PostgreSQL {ver}", "dim"), ("  · ", "dim"), (scope, "bold"))
        if acc.level == "degraded":
            title.append("  DEGRADED VIEW", style="bold reverse")
        self._set("#dash-title", title)
        c = s.connections
        hit = s.cache_hit_ratio
        ratio = hit.interval if hit.interval is not None else hit.cumulative
        size = f"{s.database or 'db'} {fmt_short_size(s.database_size)}"
        count: int | str = "-"
        by_state: dict[str, int] = {}
        if self.this_database:
            if c is not None:
                by_state, count = c.by_state_this_database, c.this_database
            tps = s.tps_this_database
        else:
            if c is not None:
                by_state, count = c.by_state, c.total
            tps = s.tps
        max_conn = c.max_connections if c is not None else "-"
        states = ", ".join(f"{v} {STATE_TINY.get(k, k)}" for k, v in by_state.items())
        tps_text = "-" if tps is None else f"{tps:.1f}" if tps < 100 else f"{tps:.0f}"
        line1 = one_line(f"conns {count}/{max_conn} ({states or 'none'}) · "
                         f"tps {tps_text} · hit {fmt_pct(ratio)} · {size}", 78)
        locks = s.locks
        lw = locks.longest
        if lw:
            line2 = Text(one_line(f"lock wait {fmt_secs(lw.wait_s)}: pid {lw.pid} "
                                  f"{lock_wait_text(lw)}, {locks.waiting} waiting", 78),
                         style=self._style("dash--alert", partial=True))
        else:
            # "no lock waits" only once pg_locks was read: unconnected, nothing is known
            line2 = Text("no lock waits" if s.panels_at.get("locks") is not None
                         else "lock waits not read yet", style=self._style("dash--quiet"))
            others = [d for d in s.databases if not d.current and (d.sessions or d.tps)]
            if others and not self.this_database:
                busiest = max(others, key=lambda d: (d.tps or 0, d.sessions))
                line2.append(one_line(
                    f" · {len(others)} other db(s), busiest {busiest.name}: "
                    f"{busiest.sessions} sess" + (f", {busiest.tps:.0f} tps"
                                                  if busiest.tps is not None else ""),
                    78 - len(line2.plain)), style="")
        if acc.level == "degraded":
            line2 = Text(one_line(acc.label, 78), style="italic")
        # Rates (tps, hit ratio, host figures, the charts) move a little with every sample,
        # our own queries included: they are redrawn at most every RATES_EVERY_S (see
        # _render_all), while a change of anything else (sessions, states, lock waits) is
        # drawn at once. Checked before the rest of the summary is built: most idle samples
        # end here.
        events = (f"{count}/{states}", line2.plain, self.this_database)
        if events == self._header_events and not self._rates_due:
            return
        self._header_events = events
        lines: list[Text] = [Text(line1), line2]
        sysline = s.host.system
        if s.host.local and sysline:
            load = " ".join(f"{x:.2f}" for x in sysline.load)
            lines.append(Text(
                f"host: load {load} · mem {sysline.mem_used_pct:.0f}% of "
                f"{fmt_short_size(sysline.mem_total)} · disk r "
                f"{fmt_short_size(sysline.disk_read_bps)}/s w "
                f"{fmt_short_size(sysline.disk_write_bps)}/s"))
        conn_hist = self._conn_hist_db if self.this_database else self._conn_hist
        tps_hist = self._tps_hist_db if self.this_database else self._tps_hist
        summary = self.query_one("#dash-summary", TextLines)
        width = max(20, (summary.content_size.width or 78))
        half = (width - 2) // 2
        label_style = self._style("dash--label")
        bars_style = self._style("dash--bars", partial=True)
        conn_label = f"connections {int(conn_hist[-1]) if conn_hist else '-'}"
        tps_label = f"transactions/s {tps_hist[-1]:.1f}" if tps_hist else "transactions/s -"
        # one style a line: a per-bar colour costs ~25 bytes a bar on every redraw
        lines += [Text(conn_label.ljust(half + 2) + tps_label, style=label_style),
                  Text(sparkline(list(conn_hist), half).ljust(half + 2)
                       + sparkline(list(tps_hist), half), style=bars_style)]
        summary.set_lines(lines)

    def _ensure_host_columns(self, local: bool) -> None:
        """On the database host, CPU/memory/IO columns join the sessions (once)."""
        if not local or self._host_columns:
            return
        self._host_columns = True
        table = self.query_one("#sessions-table", DataTable)
        spec = self.specs["sessions"]
        query = spec.columns.pop()
        table.remove_column("query")
        for key, label in (("cpu", "cpu%"), ("mem", "mem"), ("io", "r+w/s"), query):
            table.add_column(label, key=key)
            spec.columns.append((key, label))
        for row_key in list(table.rows):  # rows are rebuilt with the new columns
            table.remove_row(row_key)

    def visible_sessions(self, s: Sample) -> list[Session]:
        """The sample's sessions under the scope (d) and the filter (/), in a stable order:
        transactions open 5 s or more first (oldest first), then the others by pid, so the
        rows do not reshuffle with each sample's short transactions. Idle sessions are left
        out unless asked for (i), and so are other monitors, idle or caught in a brief sample of
        the statistics (m, or a filter on the application; see
        ``querytext.monitoring_sample``): a row that comes and goes with one tool's 50 ms
        query is noise, and a monitor stuck or waiting for a lock is listed."""
        own = s.backend_pid  # our sampling connection: counted, not listed
        sessions = s.connections.sessions if s.connections is not None else []
        rows = sorted((a for a in sessions
                       if (own is None or a.pid != own)
                       and (self.show_idle or a.state != "idle"
                            or (self.filter.state or "").startswith("idle"))
                       and (self.show_monitoring or self.filter.application
                            or not _quiet_monitor(a))),
                      key=_session_order)
        if self.this_database:
            rows = [a for a in rows if a.database == s.database]
        if self.filter:
            rows = [a for a in rows if self.filter.match(a)]
        return rows

    def _render_sessions(self, s: Sample) -> None:
        self._ensure_host_columns(s.host.local)
        rows: list[tuple[str, list[SortCell], Record]] = []
        for a in self.visible_sessions(s):
            state = a.state or "hidden"
            wait = f"{a.wait_event_type}:{a.wait_event}" if a.wait_event_type else ""
            style = "bold" if state.startswith("idle in transaction") else ""
            app_name = (a.application or "") + (" (ours)" if a.own else "")
            age = a.query_age_s if state == "active" else a.state_age_s
            cells = [
                num(str(a.pid), a.pid),
                txt(one_line(a.database or "", 8)),
                txt(one_line(a.user or "?", 8)),
                txt(one_line(app_name, 12), "dim" if a.own else ""),
                txt(STATE_TINY.get(state, state), style),
                txt(one_line(wait, 12)),
                num(fmt_session_age(state, age), age),
            ]
            if self._host_columns:
                io = None
                if a.read_bps is not None or a.write_bps is not None:
                    io = (a.read_bps or 0) + (a.write_bps or 0)
                # an idle backend's CPU is the noise of its last short query: not shown
                cpu = a.cpu_pct if state != "idle" else None
                cells += [
                    num(f"{cpu:.0f}" if cpu is not None else "", cpu),
                    num(fmt_short_size(a.rss_bytes), a.rss_bytes),
                    num(fmt_short_size(io), io),
                ]
            cells.append(txt(query_line(a.query, 40)))
            rows.append((str(a.pid), cells, a))
        self._sync("sessions", rows)
        self._empty_note("sessions", not rows, self._no_sessions_text(s))

    def _no_sessions_text(self, s: Sample) -> str:
        """Why the Sessions table is empty: an empty table must not look like a broken one
        (by default, as in pg_activity, idle sessions are counted but not listed)."""
        if s.connections is None or s.panels_at.get("connections") is None:
            # whole, here: the status line has room for 50 characters of it, and the reason
            # (with what to do) is often twice that
            why = (f"No session read yet: {s.error}" if s.error
                   else "No session read yet: the line below says why.")
            return why
        sessions = s.connections.sessions
        others = [a for a in sessions if a.pid != s.backend_pid
                  and (not self.this_database or a.database == s.database)]
        if self.filter:
            # sessions the filter matches may still be left out, as idle or as other
            # monitors: saying "none matches" then would send the operator the wrong way
            matched = [a for a in others if self.filter.match(a)]
            hidden = self._unlisted(matched)
            if not hidden:
                return (f"No session matches the filter ({len(others)} connected; "
                        "/ changes it).")
            n = len(matched)
            return (f"The filter matches {n} session{'s' if n != 1 else ''}: "
                    f"{'; '.join(hidden)}.")
        parts = self._unlisted(others)
        if parts:
            return f"No session is doing anything: {'; '.join(parts)}."
        return EMPTY_NOTES["sessions"]

    def _unlisted(self, sessions: list[Session]) -> list[str]:
        """What keeps these sessions out of the table, counted, each with its key."""
        # counted by who they are, not by what they do this instant: a monitor caught in a
        # sample is one of the "monitoring", not one idle fewer (the note stays the same)
        monitors = set() if self.show_monitoring or self.filter.application else {
            a.pid for a in sessions if monitor_session(a.application, a.query)}
        idle = sum(1 for a in sessions if a.state == "idle" and a.pid not in monitors)
        parts = []
        if idle and not self.show_idle:
            parts.append(f"{idle} idle, not listed (i lists them)")
        if monitors:
            parts.append(f"{len(monitors)} monitoring (m lists their samples)")
        return parts

    def _render_locks(self, s: Sample) -> None:
        rows: list[tuple[str, list[SortCell], Record]] = []
        for n in s.locks.rows:
            depth = int(n.depth or 0)
            label = ("  " * (depth - 1) + "└ " if depth else "") + str(n.pid)
            if n.waiting:
                mode = (str(n.mode).removesuffix("Lock") if n.mode
                        else f"({n.locktype or 'lock'})")
            else:
                mode = lock_held_text(n).replace("blocks (what it holds is not visible)",
                                                 "blocking")
            target = n.relation or {
                "transactionid": "a transaction", "virtualxid": "old snapshots",
                "extend": "extension"}.get(n.locktype or "", n.locktype or "")
            rows.append((str(n.pid), [
                SortCell(label, n.pid, "left", "bold" if not depth else ""),
                txt(one_line(mode, 21)),
                txt(one_line(target, 16)),
                num(fmt_secs(n.wait_s), n.wait_s),
                num(str(n.queue), n.queue),
                txt(STATE_SHORT.get(n.state or "", n.state or "")),
                txt(one_line(n.application or "", 16)),
            ], n))
        self._sync("locks", rows)
        self._empty_note("locks", not rows)

    def _render_tables(self, s: Sample) -> None:
        rows: list[tuple[str, list[SortCell], Record]] = []
        for t in s.tables:
            approx = "~" if t.size_source == "catalog" else ""
            lock = ""
            if t.locked:
                lock = "LOCKED" if t.lock is not None and t.lock.held_by else "wanted"
            analyzed = t.last_analyze
            name = t.name if t.schema == "public" else t.qualified_name
            rows.append((str(t.oid), [
                txt(one_line(name, 20)),
                txt(lock, "bold reverse" if lock else ""),
                num(approx + fmt_short_size(t.total_bytes), t.total_bytes),
                num(approx + fmt_short_size(t.heap_bytes), t.heap_bytes),
                num(approx + fmt_short_size(t.index_bytes), t.index_bytes),
                num(approx + fmt_short_size(t.toast_bytes), t.toast_bytes),
                num(fmt_count(t.row_estimate), t.row_estimate),
                num(fmt_count(t.dead_tuples), t.dead_tuples),
                num(fmt_age(analyzed, s.ts), str(analyzed or ""),
                    "" if analyzed else "italic"),
            ], t))
        self._sync("tables", rows)

    def _render_queries(self, s: Sample) -> None:
        sq = s.slow_queries
        note = self.query_one("#queries-note", Static)
        rows: list[tuple[str, list[SortCell], Record]] = []
        if sq.unavailable:
            self._set("#queries-note", Text.assemble(
                ("pg_stat_statements unavailable ", "bold"),
                f"({sq.state}): {sq.unavailable}\nfix: {sq.fix}"), layout=True)
            if not note.display:
                note.display = True
        else:
            extra = []
            if sq.outdated:
                o = sq.outdated
                extra.append(f"extension {o.installed} older than {o.default}: {o.fix}")
            if sq.limited:
                extra.append(sq.limited)
            self._set("#queries-note", "\n".join(extra), layout=True)
            if note.display != bool(extra):
                note.display = bool(extra)
            # the statements in a stable order (cumulative time): the deltas of one interval
            # would reshuffle the table on every sample and move the selection away
            shown = list(sq.statements or sq.top_by_total)
            if self.show_monitoring:
                shown += list(sq.monitoring)
            for q in shown:
                rows.append((f"{q.queryid}:{q.user}", [
                    num(str(q.calls_delta) if q.calls_delta is not None else "-",
                        q.calls_delta),
                    num(f"{q.mean_ms:.1f}", q.mean_ms),
                    num(f"{q.total_ms_delta:.0f}" if q.total_ms_delta is not None
                        else "-", q.total_ms_delta),
                    num(humanize.intcomma(q.calls), q.calls),
                    txt(statement_line(q, 40), "dim" if q.monitoring else ""),
                ], q))
        self._sync("queries", rows)

    def _render_progress(self, s: Sample) -> None:
        rows: list[tuple[str, list[SortCell], Record]] = []
        for p in s.progress:
            pct = (f"{p.percent:.1f}%" if p.percent is not None
                   else f"{p.done} {p.unit}")
            rows.append((f"{p.kind}:{p.pid}", [
                txt(p.kind), txt(one_line(p.relation or "", 24)),
                txt(one_line(p.phase or "", 26)), num(pct, p.percent),
                num(str(p.pid), p.pid),
            ], p))
        self._sync("progress", rows)
        # "nothing running" only once the progress views were read
        self._empty_note("progress", not rows and s.panels_at.get("progress") is not None)

    def _empty_note(self, tab_id: str, empty: bool, text: str | None = None) -> None:
        """Say what an empty table means, so an empty screen never looks like a broken one."""
        shown = (text or EMPTY_NOTES[tab_id]) if empty else ""
        if self._shown.get(f"#{tab_id}-empty-shown") == shown:
            return  # unchanged: no update, no layout pass
        self._shown[f"#{tab_id}-empty-shown"] = shown
        note = self.query_one(f"#{tab_id}-empty", Static)
        note.update(shown)
        note.display = empty

    def _sync(self, tab_id: str, rows: list[tuple[str, list[SortCell], Record]]) -> None:
        """Update a table in place by row key: changed cells, new rows, gone rows."""
        spec = self.specs[tab_id]
        ordered = [(key, [replace(cells[0], order=i), *cells[1:]])
                   for i, (key, cells, _raw) in enumerate(rows)]
        table = self.query_one(f"#{tab_id}-table", DataTable)
        col_keys = [k for k, _ in spec.columns]
        same = len(table.columns) == len(spec.columns)
        if same and not self._rates_due and self._rates_only(
                spec.shown, ordered, col_keys, self.RATE_COLUMNS.get(tab_id)):
            return  # only figures that tick with time: drawn with the next rates
        spec.rows = {key: raw for key, _, raw in rows}
        if ordered == spec.shown and same:
            # nothing the table shows changed: no cell, sort or cursor work (an idle
            # dashboard spends its time here)
            if self.is_mounted and tab_id == self.active_tab():
                self._show_detail(tab_id, self._cursor_key(table))
            return
        spec.shown = ordered
        cursor_key = self._cursor_key(table)
        wanted = {key for key, _, _ in rows}
        for row_key in list(table.rows):
            if row_key.value not in wanted:
                table.remove_row(row_key)
        present = {rk.value for rk in table.rows}
        for key, cells in ordered:
            if key in present:
                for ck, cell in zip(col_keys, cells, strict=True):
                    if table.get_cell(key, ck) != cell:
                        table.update_cell(key, ck, cell)
            else:
                table.add_row(*cells, key=key)
        if isinstance(table, LiveTable):
            table.commit_updates()
        self._apply_sort(tab_id)
        if cursor_key is not None and cursor_key in wanted:
            self._keep_cursor(table, cursor_key)
        if self.is_mounted and tab_id == self.active_tab():
            self._show_detail(tab_id, self._cursor_key(table))

    @staticmethod
    def _rates_only(shown: list[tuple[str, list[SortCell]]] | None,
                    new: list[tuple[str, list[SortCell]]], col_keys: list[str],
                    rate_cols: frozenset[str] | None) -> bool:
        """The same rows, in the same order, differing (if at all) in rate columns only. The
        rows' records are kept as shown too: the detail line and the actions read them."""
        if not rate_cols or shown is None or len(shown) != len(new):
            return False
        fixed = [i for i, k in enumerate(col_keys) if k not in rate_cols]
        for (key_a, a), (key_b, b) in zip(shown, new, strict=True):
            if key_a != key_b or len(a) != len(b) or any(a[i] != b[i] for i in fixed):
                return False
        return True

    def _apply_sort(self, tab_id: str) -> None:
        spec = self.specs[tab_id]
        table = self.query_one(f"#{tab_id}-table", DataTable)
        if spec.sort_column:
            col, reverse = spec.sort_column, spec.reverse

            def key(c: SortCell) -> Any:
                return c.sort_key
        else:  # the sample's order (the lock tree, the size rank), carried by the first cell
            col, reverse = spec.columns[0][0], False

            def key(c: SortCell) -> Any:
                return c.order
        # sorting repaints the whole table: only when the order would change
        current = [table.get_cell(rk, col) for rk in
                   (table.coordinate_to_cell_key(Coordinate(i, 0))[0]
                    for i in range(table.row_count))]
        keys = [key(c) for c in current]
        if keys != sorted(keys, reverse=reverse):
            table.sort(col, key=key, reverse=reverse)

    @staticmethod
    def _keep_cursor(table: DataTable[Any], key: str) -> None:
        """Put the cursor back on the row it was on (moving it repaints: only if needed)."""
        row = table.get_row_index(key)
        if table.cursor_row != row:
            table.move_cursor(row=row, animate=False)

    @staticmethod
    def _cursor_key(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        try:
            rk, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return str(rk.value) if rk.value is not None else None

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        s = self.last
        # the dearest of the last samples, as a bound: steady while the cost is
        parts = [f"our sample {bucket_ms(max(self._costs) if self._costs else None)}",
                 f"every {self.interval:g}s"]
        if self.paused:
            parts.append("PAUSED (p resumes)")
            if s is not None and s.ts:
                parts.append(f"at {str(s.ts)[11:19]}")
        if self.filter:
            parts.append(f"filter: {self.filter.describe()}")
        if self.show_monitoring:
            parts.append("with monitoring")
        if self.show_idle:
            parts.append("with idle sessions")
        stale = s.stale if s is not None else {}
        error = s.error if s is not None else None
        if error:
            parts.append(f"ERROR {one_line(error, 50)}")
        elif stale:
            name, st = next(iter(stale.items()))
            more = f" +{len(stale) - 1}" if len(stale) > 1 else ""
            parts.append(f"STALE {name}{more} since {str(st.since)[11:19]}: "
                         f"{one_line(st.reason, 40)}")
        self._set("#dash-status", " · ".join(parts))
        self.query_one("#dash-status", Static).set_class(bool(stale or error), "-stale")

    # -- actions ----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        tab = str(event.data_table.id or "").removesuffix("-table")
        if tab != self.active_tab():
            return
        self._show_detail(str(event.data_table.id or "").removesuffix("-table"),
                          str(event.row_key.value) if event.row_key.value is not None else None)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = self._active_tab = self.active_tab()
        if tab in self._stale_tabs and self.last is not None:
            self._stale_tabs.discard(tab)
            with self.app.batch_update():
                getattr(self, f"_render_{tab}")(self.last)
        if TAB_PANELS.get(tab) and self._due_at is not None:
            self._schedule(0)  # its panel may be up to FULL_EVERY_S old: fetch it now
        if tab in self.specs:
            self._show_detail(tab, self._cursor_key(self.query_one(f"#{tab}-table", DataTable)))

    def _show_detail(self, tab: str, key: str | None) -> None:
        """The full text of the highlighted row, on the line under the table."""
        spec = self.specs.get(tab)
        row = spec.rows.get(key) if spec is not None and key is not None else None
        text = ""
        if isinstance(row, Session):
            extra = [f"db {row.database or '?'}"]
            # the transaction's age when it says more than the row's age column (a statement
            # in a longer transaction, idle in one); the same figure twice would tick twice
            age = row.query_age_s if row.state == "active" else row.state_age_s
            if row.xact_age_s is not None and (age is None or abs(row.xact_age_s - age) >= 1):
                extra.append(f"xact {fmt_session_age('', row.xact_age_s)}")
            if row.cpu_pct is not None and row.state != "idle":
                extra.append(f"cpu {row.cpu_pct:.0f}%")
            if row.rss_bytes is not None:
                extra.append(f"rss {fmt_short_size(row.rss_bytes)}")
            text = (f"pid {row.pid} {row.application or ''} "
                    f"({', '.join(extra)}): {row.query or ''}")
        elif isinstance(row, LockRow):
            what = lock_wait_text(row) if row.waiting else lock_held_text(row)
            text = f"pid {row.pid} {row.application or ''} {what}: {row.query or ''}"
        elif isinstance(row, Statement):
            text = (f"{row.max_ms:.0f} ms max · "
                    + (f"[{row.source}] " if row.source else "")
                    + (f"-- {row.comment} · " if row.comment else "")
                    + str(row.query or ""))
        elif isinstance(row, Table):
            vac = str(row.last_vacuum or "never")[:16]
            src = "catalog estimate (locked)" if row.size_source == "catalog" else "exact"
            text = (f"{row.qualified_name}: sizes {src}; vacuumed {vac}; "
                    f"{row.mod_since_analyze or 0} changes since analyze")
        elif isinstance(row, Progress):
            text = f"pid {row.pid} {row.kind} {row.relation}: {row.phase}"
        self._set("#dash-detail", one_line(text, 200))

    def action_leave(self) -> None:
        """Back to the screen below; alone (``monitor --tui``), quit."""
        if len(self.app.screen_stack) > 2 or not getattr(self.app, "dashboard_only", False):
            self.app.pop_screen()
        else:
            self.app.exit()

    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active or "sessions"

    def action_tab(self, tab_id: str) -> None:
        self.query_one(TabbedContent).active = tab_id
        self.query_one(f"#{tab_id}-table", DataTable).focus()

    def action_pause(self) -> None:
        self.paused = not self.paused

    def action_scope(self) -> None:
        """Whole server <-> this database (sessions, their counts, tps, sparklines)."""
        self.this_database = not self.this_database

    def watch_this_database(self) -> None:
        self._rerender()
        if self.is_mounted:
            self.notify("showing this database only (d: whole server)" if self.this_database
                        else "showing the whole server (d: this database only)", timeout=2)

    def action_idle(self) -> None:
        """Show or hide idle sessions in Sessions."""
        self.show_idle = not self.show_idle

    def watch_show_idle(self) -> None:
        self._rerender()

    def action_monitoring(self) -> None:
        """Show or hide monitoring: other monitors' brief samples in Sessions, monitoring
        statements (ours and other tools') in Queries."""
        self.show_monitoring = not self.show_monitoring

    def watch_show_monitoring(self) -> None:
        self._rerender()

    def action_filter(self) -> None:
        """Open the filter line (sessions: db:, user:, app:, state:, min:, words)."""
        box = self.query_one("#dash-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#dash-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        try:
            self.filter = SessionFilter.parse(event.value)
        except NchatError:
            return  # half-typed (min:3 while typing "min:3m"): keep the last good filter
        self._rerender()

    @on(Input.Submitted, "#dash-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.query_one(f"#{self.active_tab()}-table", DataTable).focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#dash-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()  # Escape leaves the filter line (the filter stays), not the screen
            box.display = False
            self.query_one(f"#{self.active_tab()}-table", DataTable).focus()

    def action_interval(self, step: int) -> None:
        cur = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - self.interval))
        self.interval = INTERVALS[max(0, min(len(INTERVALS) - 1, cur + step))]
        self._schedule(self.interval)

    def action_sort(self) -> None:
        """Cycle the sort column of the visible table (largest first)."""
        tab = self.active_tab()
        spec = self.specs[tab]
        keys = [k for k, _ in spec.columns]
        if spec.sort_column is None:
            spec.sort_column = keys[0]
        else:
            i = keys.index(spec.sort_column) + 1
            spec.sort_column = keys[i] if i < len(keys) else None
        spec.reverse = spec.sort_column is not None and spec.sort_column not in (
            "pid", "user", "app", "state", "table", "query", "kind", "rel", "phase", "mode")
        self._resort(tab)

    def action_reverse(self) -> None:
        tab = self.active_tab()
        spec = self.specs[tab]
        if spec.sort_column is None:
            spec.sort_column = spec.columns[0][0]
        spec.reverse = not spec.reverse
        self._resort(tab)

    @on(DataTable.HeaderSelected)
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        tab = str(event.data_table.id or "").removesuffix("-table")
        spec = self.specs.get(tab)
        if spec is None:
            return
        col = str(event.column_key.value)
        spec.reverse = not spec.reverse if spec.sort_column == col else True
        spec.sort_column = col
        self._resort(tab)

    def _resort(self, tab: str) -> None:
        spec = self.specs[tab]
        table = self.query_one(f"#{tab}-table", DataTable)
        cursor_key = self._cursor_key(table)
        self._apply_sort(tab)
        if cursor_key is not None:
            self._keep_cursor(table, cursor_key)
        label = dict(spec.columns).get(spec.sort_column or "", "sample order")
        self.notify(f"{tab}: sorted by {label}{' (desc)' if spec.reverse else ''}",
                    timeout=2)

    def selected_backend(self) -> Backend | None:
        """The session under the cursor on the Sessions or Locks tab."""
        tab = self.active_tab()
        if tab not in ("sessions", "locks"):
            return None
        table = self.query_one(f"#{tab}-table", DataTable)
        key = self._cursor_key(table)
        if key is None:
            return None
        row = self.specs[tab].rows.get(key)
        if isinstance(row, Session):
            return Backend(row.pid, row.user, row.application, row.state, row.query, row.own,
                           row.superuser, row.backend_type)
        if not isinstance(row, LockRow):
            return None
        # completed by its session row (superuser flag, backend type)
        last = self.last
        sessions = last.connections.sessions if last and last.connections else []
        sess = next((a for a in sessions if str(a.pid) == key), None)
        return Backend(row.pid, row.user, row.application, row.state, row.query, row.own,
                       sess.superuser if sess else None, sess.backend_type if sess else None)

    def _check_target(self, verb: str) -> Backend | None:
        if self.actions is None:
            self.notify("No actions here: this dashboard is read-only.", severity="warning")
            return None
        row = self.selected_backend()
        if row is None:
            self.notify(f"Select a session on the Sessions or Locks tab to {verb} it.",
                        severity="warning")
            return None
        if row.own:
            self.notify(f"pid {row.pid} is one of nchat-tui's own sessions: not from here.",
                        severity="error")
            return None
        return row

    def action_cancel_backend(self) -> None:
        row = self._check_target("cancel")
        if row is not None:
            self._cancel_flow(row)

    def action_terminate_backend(self) -> None:
        row = self._check_target("terminate")
        if row is not None:
            self._terminate_flow(row)

    @staticmethod
    def _describe(row: Backend) -> str:
        return (f"pid {row.pid} ({row.user or '?'}, "
                f"{row.application or 'no application name'}, "
                f"{row.state or 'state hidden'})\n"
                f"{one_line(row.query, 120) or '(no query text)'}")

    @staticmethod
    def _privileged(row: Backend) -> bool:
        return bool(row.superuser or row.backend_type == "walsender")

    async def _second_confirmation(self, row: Backend, verb: str) -> bool:
        kind = ("a replication (walsender) session" if row.backend_type == "walsender"
                else "a superuser's session")
        return await self._ask(ActionConfirmModal(
            "Privileged session", f"pid {row.pid} is {kind}. {verb.capitalize()} it anyway?",
            yes=verb.capitalize()))

    async def _ask(self, modal: ModalScreen[bool]) -> bool:
        # (mypy cannot pick the wait_for_dismiss=True overload of App.push_screen here)
        return bool(await self.app.push_screen(modal, wait_for_dismiss=True))  # type: ignore[call-overload]

    @work(group="monitor-confirm", exclusive=True)
    async def _cancel_flow(self, row: Backend) -> None:
        if not await self._ask(ActionConfirmModal(
                "Cancel the running statement?", self._describe(row), yes="Cancel it")):
            return
        privileged = self._privileged(row)
        if privileged and not await self._second_confirmation(row, "cancel"):
            return
        self._run_action("cancel", int(row.pid), privileged, "")

    @work(group="monitor-confirm", exclusive=True)
    async def _terminate_flow(self, row: Backend) -> None:
        pid = int(row.pid)
        if not await self._ask(TypePidModal(
                pid, "This ends the session and rolls back its transaction.\n"
                + self._describe(row))):
            return
        privileged = self._privileged(row)
        if privileged and not await self._second_confirmation(row, "terminate"):
            return
        self._run_action("terminate", pid, privileged, str(pid))

    @work(thread=True, group="monitor-action", exit_on_error=False,
          description="monitor action")
    def _run_action(self, action: str, pid: int, privileged: bool, typed: str) -> None:
        actions = self.actions
        assert actions is not None  # checked before any dialog opened
        try:
            if action == "cancel":
                res = actions.cancel_backend(pid, confirm_privileged=privileged)
            else:
                res = actions.terminate_backend(pid, typed, confirm_privileged=privileged)
            ok = bool(res.ok)
            detail = (f"{action} sent to pid {pid}" if ok else
                      f"pid {pid} was not signalled (it may have ended)")
        except Exception as exc:
            ok = False
            detail = f"{action} pid {pid} refused: {getattr(exc, 'message', None) or exc}"
        self.post_message(ActionFinished(action, pid, ok, detail))

    def action_explain(self) -> None:
        """EXPLAIN the selected session's or statement's query (never executes it)."""
        if self.actions is None:
            self.notify("No EXPLAIN here: this dashboard is read-only.", severity="warning")
            return
        tab = self.active_tab()
        table = self.query_one(f"#{tab}-table", DataTable)
        key = self._cursor_key(table)
        row = self.specs[tab].rows.get(key or "")
        query = row.query if isinstance(row, Session | LockRow | Statement) else None
        if not query or query.startswith("<insufficient"):
            self.notify("Select a session or statement with a query to explain.",
                        severity="warning")
            return
        self._explain(query)

    @work(thread=True, group="monitor-explain", exclusive=True, exit_on_error=False,
          description="monitor explain")
    def _explain(self, query: str) -> None:
        actions = self.actions
        assert actions is not None  # checked before the worker started
        try:
            res = actions.explain(query)
            title = f"EXPLAIN ({res.mode}, not executed): {one_line(query, 60)}"
            self.app.call_from_thread(self.app.push_screen,
                                      PlanModal(title, "\n".join(res.plan)))
        except Exception as exc:
            msg = getattr(exc, "message", None) or str(exc)
            hint = getattr(exc, "hint", None)
            self.post_message(ActionFinished("explain", 0, False,
                                             f"EXPLAIN refused: {msg}" + (f" ({hint})" if hint
                                                                           else "")))

    @on(ActionFinished)
    def _action_finished(self, message: ActionFinished) -> None:
        self.notify(message.detail, severity="information" if message.ok else "error",
                    timeout=6)


class MonitorApp(App[int]):
    """``nchat-tui monitor --tui``: the dashboard alone."""

    TITLE = "nchat-tui monitor"
    dashboard_only = True

    def __init__(self, sampler: Sampler, interval: float = 2.0) -> None:
        super().__init__()
        self.sampler = sampler
        self.interval = interval

    def get_driver_class(self) -> type[Driver]:
        return quiet_driver_class(super().get_driver_class())

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.sampler, interval=self.interval))


def run_dashboard(sampler: Sampler, interval: float = 2.0) -> int:
    """``nchat-tui monitor --tui``: the dashboard alone, on ``sampler``; returns the exit code."""
    return MonitorApp(sampler, interval).run() or 0
