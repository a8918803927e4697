"""The home screen: the target banner, the ledger, the pending migrations and the phases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from nchat_tui import fmt
from nchat_tui.errors import NchatError
from nchat_tui.migrate.status import Status
from nchat_tui.releases.choice import path_mismatch
from nchat_tui.screens.messages import BannerFailed, BannerLoaded
from nchat_tui.upgrade.checklist import UpgradePath

if TYPE_CHECKING:
    from nchat_tui.screens.app import NchatApp


def banner_text(st: Status) -> Text:
    pgss = st.pg_stat_statements
    t = Text()
    t.append("Target  ", style="bold")
    t.append(f"{st.target}")
    t.append(f"  (from {st.source})\n", style="dim")
    t.append("Server  ", style="bold")
    t.append(f"PostgreSQL {st.server_version}  db {st.database} "
             f"({fmt.size(st.database_size)})  user {st.user}")
    t.append(" superuser" if st.is_superuser else " (not superuser)")
    t.append("\n")
    t.append("Stats   ", style="bold")
    t.append("pg_stat_statements ")
    t.append(pgss["state"].replace("_", " "), style="green" if pgss["available"] else "yellow")
    t.append("\n")
    led = st.ledger
    t.append("Ledger  ", style="bold")
    t.append(f"{led.kind}  {len(led.applied)} applied  current "
             f"{led.current_version or 'none'}")
    return t


def pending_text(st: Status, path: UpgradePath | None = None) -> Text:
    """The pending files in run order; and a warning when the upgrade path followed does not
    match them (a no-schema-change path with files pending, or the reverse)."""
    t = Text()
    pend = st.pending
    if not st.pending_known:
        t.append("Pending migrations: unknown", style="bold")
        t.append(f" ({st.pending_unknown or 'no migrations directory'})")
    else:
        t.append(f"Pending migrations: {len(pend)}", style="bold")
        if pend:
            t.append(" (run order)\n")
            t.append("\n".join(f"  {n}" for n in pend))
    for w in st.warnings:
        t.append(f"\n! {w}", style="yellow")
    if path is not None and pend:
        mismatch = path_mismatch(st, path.id)  # by what the files create, not their numbers
        if mismatch:
            t.append(f"\n! {mismatch}", style="bold yellow")
    return t


class HomeScreen(Screen[None]):
    """Where the operator lands: what is this database, and what is the plan."""

    BINDINGS = [
        # Quit and Help first: the footer lists a screen's keys before the app's and cuts
        # from the right, so on a narrow terminal (60 columns) these two went first
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "refresh", "Refresh"),
        # the app's keys, named in this footer where there is room for them
        Binding("m", "app.dashboard", "Monitor"),
        Binding("t", "app.troubleshoot", "Troubleshoot"),
        Binding("w", "app.where", "Files"),
    ]
    HELP_TITLE = "home"

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]] | str]]:
        return [("Home", [
            ("up / down, j / k", "choose a phase"),
            ("enter", "open the phase's checklist"),
            ("g", "read the target's status again (server, ledger, pending files)"),
        ]), ("What this shows", "The target (never its password), the server and database, "
             "the migration ledger the deployment uses, the pending files in the order they "
             "will run, and each phase's progress. It is read again after any step that moves "
             "the ledger (a migration, a rollback).")]

    @property
    def nchat(self) -> NchatApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="home"):
            yield Static("Connecting to the target...", id="banner")
            yield Static("", id="pending")
            yield Static("", id="path-title")
            yield OptionList(id="phases")
        yield Footer()

    shown_version = -1
    """The session's ``status_version`` the banner was last read at."""

    def on_mount(self) -> None:
        self.refresh_phases()
        self.load_banner()

    def refresh_phases(self) -> None:
        session = self.nchat.session
        ol = self.query_one("#phases", OptionList)
        hl = ol.highlighted
        ol.clear_options()
        for n, ph in enumerate(session.path.phases, 1):
            done, total = session.checklist.phase_progress(ph.id)
            failed = sum(1 for s in ph.steps if session.checklist.states[s.key].state
                         in ("failed", "interrupted"))
            undone = sum(1 for s in ph.steps if session.checklist.states[s.key].state
                         == "pending" and session.checklist.states[s.key].summary
                         .startswith("rolled back"))
            label = Text(f"{n}  {ph.title:<24} {done:>2}/{total} done")
            if failed:
                label.append(f"  {failed} failed", style="bold red")
            if undone:
                label.append(f"  {undone} undone by the rollback", style="bold yellow")
            label.no_wrap, label.overflow = True, "ellipsis"
            ol.add_option(Option(label, id=ph.id))
        ol.highlighted = hl if hl is not None else 0
        self.query_one("#path-title", Static).update(
            Text.assemble(("Upgrade path  ", "bold"), session.path.title))

    @work(thread=True, exclusive=True, exit_on_error=False, group="banner",
          description="reading the target's status")
    def load_banner(self, refresh: bool = False) -> None:
        session = self.nchat.session
        self.shown_version = session.status_version
        try:
            st = session.refresh_banner() if refresh else session.banner()
        except NchatError as exc:
            self.post_message(BannerFailed(exc.one_line()))
            return
        self.post_message(BannerLoaded(st))

    @on(BannerLoaded)
    def _loaded(self, msg: BannerLoaded) -> None:
        self.query_one("#banner", Static).update(banner_text(msg.status))
        self.query_one("#pending", Static).update(pending_text(msg.status,
                                                              self.nchat.session.path))
        self.query_one("#banner").set_class(False, "-error")

    @on(BannerFailed)
    def _failed(self, msg: BannerFailed) -> None:
        banner = self.query_one("#banner", Static)
        banner.update(Text.assemble(("Cannot reach the target: ", "bold"), msg.message,
                                    "\nPress g to retry; t opens the connection "
                                    "troubleshooting."))
        banner.set_class(True, "-error")

    @on(OptionList.OptionSelected, "#phases")
    def _open_phase(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.nchat.open_phase(event.option.id)

    def on_screen_resume(self) -> None:
        self.refresh_phases()
        if self.nchat.session.status_version != self.shown_version:
            # a step ran that moved the ledger (a migration, a rollback): what the banner and
            # the pending list said is no longer true
            self.load_banner(refresh=True)

    def action_refresh(self) -> None:
        self.query_one("#banner", Static).update("Refreshing...")
        self.load_banner(refresh=True)

    def action_cursor_down(self) -> None:
        self.query_one("#phases", OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#phases", OptionList).action_cursor_up()
