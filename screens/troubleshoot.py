"""The troubleshooting screen: walk a decision tree of live checks and read what each found.

Pick a tree (cannot connect, data looks missing, everything is slow, the v0.4.0 cases);
its checks run in a thread worker (``nchat_tui.monitor.troubleshoot.walk``), each finding arriving
as a message, the branch taken decided by the finding. A finding shows its evidence and the
proposed action; maintenance fixes (ANALYZE, VACUUM, REINDEX/CREATE INDEX CONCURRENTLY) run
after confirmation, with progress, and the check runs again. No SQL here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from nchat_tui.monitor.troubleshoot import TREES, CheckContext, Finding, run_check, run_fix, walk
from nchat_tui.pg.queries import sql_text
from nchat_tui.report.evidence import render as render_evidence
from nchat_tui.screens.dialogs.modals import ConfirmModal

ICONS = {"ok": ("✓", "green"), "problem": ("✗", "bold red"), "warning": ("!", "yellow"),
         "info": ("i", "cyan"), "error": ("?", "bold red"), "skipped": ("-", "dim"),
         "pending": ("·", "dim"), "running": ("…", "bold"), "not_reached": (" ", "dim")}

CSS = """
TroubleshootScreen { layout: vertical; }
#ts-title { height: 1; padding: 0 1; background: $boost; }
#ts-body { height: 1fr; }
#ts-trees { width: 24; height: 1fr; border-right: solid $primary-darken-2; }
#ts-right { width: 1fr; }
#ts-steps { height: auto; max-height: 9; border-bottom: solid $primary-darken-2; }
#ts-finding { height: 1fr; padding: 0 1; }
#ts-status { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
"""


class StepChecked(Message):
    """One check of a walk finished."""

    def __init__(self, tree: str, step: str, finding: Finding) -> None:
        super().__init__()
        self.tree = tree
        """The tree being walked."""
        self.step = step
        """The step id."""
        self.finding = finding
        """What the check found."""


class TreeWalked(Message):
    """A walk reached its end."""

    def __init__(self, tree: str) -> None:
        super().__init__()
        self.tree = tree
        """The tree that was walked."""


class FixProgressed(Message):
    """A running fix reported progress, or finished."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        """One line for the status bar."""

    def can_replace(self, message: Message) -> bool:
        # a slow terminal gets the latest progress line, never a backlog of them
        return isinstance(message, FixProgressed)


class TroubleshootScreen(Screen[None]):
    """Guided troubleshooting on ``target``; ``before`` is the before-snapshot's row counts."""

    DEFAULT_CSS = CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "run", "Run tree", show=True, priority=False),
        Binding("f", "fix", "Fix"),
        Binding("r", "rerun", "Re-check"),
        Binding("P", "psql", "psql"),
        Binding("tab", "focus_next", "Next pane", show=False),
    ]
    HELP_TITLE = "Troubleshooting"

    def __init__(self, target: Any, before: dict[str, int] | None = None,
                 journal: Any = None, name: str | None = None, id: str | None = None,
                 tree: str | None = None, autorun: bool = False,
                 note: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.target = target
        self.before = before
        self.journal = journal
        self.tree_name = tree if tree is not None and tree in TREES else next(iter(TREES))
        self.autorun = autorun
        self.note = note
        """Why this screen opened on its own (the target could not be reached at start)."""
        self.findings: dict[str, dict[str, Finding]] = {t: {} for t in TREES}
        self.running: dict[str, str | None] = {t: None for t in TREES}
        self.walking: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="ts-title")
        with Horizontal(id="ts-body"):
            yield OptionList(*[Option(t.title, id=name) for name, t in TREES.items()],
                             id="ts-trees")
            with Vertical(id="ts-right"):
                yield OptionList(id="ts-steps")
                with VerticalScroll(id="ts-finding"):
                    yield Static("", id="ts-detail")
        yield Static("enter runs the selected tree against the live database · tab moves to "
                     "the checks, then the finding · P opens psql with the finding's SQL",
                     id="ts-status")
        yield Footer()

    def on_mount(self) -> None:
        masked = self.target.masked() if hasattr(self.target, "masked") else str(self.target)
        title = Text.assemble(("Troubleshoot ", "bold"), masked)
        if self.note:
            title.append(f"  unreachable at start: {self.note}", style="bold red")
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#ts-title", Static).update(title)
        trees = self.query_one("#ts-trees", OptionList)
        trees.highlighted = list(TREES).index(self.tree_name)
        trees.focus()
        self._render_steps()
        if self.note:
            self._status(f"Cannot reach the target: {self.note}")
        if self.autorun:
            self.action_run()

    # -- rendering --------------------------------------------------------------------------
    def _step_state(self, tree: str, step_id: str) -> str:
        if step_id in self.findings[tree]:
            return self.findings[tree][step_id].status
        if self.running.get(tree) == step_id:
            return "running"
        return "pending" if self.walking == tree or not self.findings[tree] else "not_reached"

    def _render_steps(self) -> None:
        steps = self.query_one("#ts-steps", OptionList)
        keep = steps.highlighted
        steps.clear_options()
        tree = TREES[self.tree_name]
        for st in tree.steps:
            icon, style = ICONS[self._step_state(self.tree_name, st.id)]
            steps.add_option(Option(Text.assemble((f"{icon} ", style), st.title), id=st.id))
        if tree.steps:
            steps.highlighted = keep if keep is not None and keep < len(tree.steps) else 0
        self._render_detail()

    def _selected_step(self) -> str | None:
        steps = self.query_one("#ts-steps", OptionList)
        if steps.highlighted is None:
            return None
        return steps.get_option_at_index(steps.highlighted).id

    def _render_detail(self) -> None:
        tree = TREES[self.tree_name]
        step_id = self._selected_step()
        out = Text()
        f = self.findings[self.tree_name].get(step_id or "")
        if f is None:
            if self.note and self.tree_name == "connection":
                out.append(f"The app could not reach the target at start: {self.note}\n\n",
                           style="bold")
            out.append(tree.description + "\n\n", style="italic")
            out.append("Not checked yet." if self.walking != self.tree_name else "Checking…")
        else:
            icon, style = ICONS[f.status]
            out.append(f"{icon} {f.status.upper()}  ", style=style)
            out.append(f.summary + "\n")
            if f.action:
                out.append("\nAction: ", style="bold")
                out.append(f.action + "\n")
            if f.action_sql:
                out.append("\nReview and run by hand:\n", style="bold")
                out.append(f.action_sql + "\n")
            if f.fixes:
                out.append(f"\nf runs (after confirmation) {len(f.fixes)} fix(es):\n",
                           style="bold")
                for fx in f.fixes[:6]:
                    out.append(f"  {fx.text()}\n")
            if f.evidence not in (None, [], {}):
                out.append("\nEvidence:\n", style="bold")
                out.append(render_evidence(f.evidence, max_items=30))
        self.query_one("#ts-detail", Static).update(out)

    # -- events -----------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#ts-trees")
    def _tree_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.tree_name:
            self.tree_name = event.option.id
            self._render_steps()

    @on(OptionList.OptionSelected, "#ts-trees")
    def _tree_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_run()

    @on(OptionList.OptionHighlighted, "#ts-steps")
    def _step_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._render_detail()

    def action_run(self) -> None:
        if self.walking is not None:
            self.notify("A walk is already running.", severity="warning")
            return
        name = self.tree_name
        self.findings[name] = {}
        self.walking = name
        self.running[name] = TREES[name].first
        self._render_steps()
        self._status(f"walking {TREES[name].title}…")
        self._walk(name)

    @work(thread=True, exclusive=True, group="troubleshoot", exit_on_error=False,
          description="troubleshooting walk")
    def _walk(self, name: str) -> None:
        ctx = CheckContext(self.target, before=self.before)

        def report(step: Any, f: Finding) -> None:  # returns None: post_message returns True
            self.post_message(StepChecked(name, step.id, f))

        try:
            walk(name, ctx, on_finding=report)
        finally:
            ctx.close()
            self.post_message(TreeWalked(name))

    @on(StepChecked)
    def _step_checked(self, message: StepChecked) -> None:
        self.findings[message.tree][message.step] = message.finding
        step = TREES[message.tree].step(message.step)
        nxt = step.on_problem if message.finding.status in ("problem", "error") else step.on_ok
        self.running[message.tree] = nxt
        if message.tree == self.tree_name:
            self._render_steps()

    @on(TreeWalked)
    def _tree_walked(self, message: TreeWalked) -> None:
        self.walking = None
        self.running[message.tree] = None
        found = [f for f in self.findings[message.tree].values()
                 if f.status in ("problem", "error")]
        self._status(f"{TREES[message.tree].title}: {len(found)} problem(s) found"
                     if found else f"{TREES[message.tree].title}: nothing wrong found")
        if message.tree == self.tree_name:
            self._render_steps()
            if found:  # show the first cause found
                steps = [s.id for s in TREES[message.tree].steps]
                first = next(k for k in steps if k in self.findings[message.tree]
                             and self.findings[message.tree][k].status in ("problem", "error"))
                self.query_one("#ts-steps", OptionList).highlighted = steps.index(first)

    def _status(self, text: str) -> None:
        self.query_one("#ts-status", Static).update(text)

    # -- fixes and re-checks ----------------------------------------------------------------
    def action_rerun(self) -> None:
        step_id = self._selected_step()
        if step_id is None or self.walking is not None:
            return
        self.running[self.tree_name] = step_id
        self.findings[self.tree_name].pop(step_id, None)
        self._render_steps()
        self._recheck(self.tree_name, step_id)

    @work(thread=True, group="troubleshoot-check", exit_on_error=False,
          description="troubleshooting check")
    def _recheck(self, tree: str, step_id: str) -> None:
        ctx = CheckContext(self.target, before=self.before)
        try:
            f = run_check(TREES[tree].step(step_id).check, ctx)
        finally:
            ctx.close()
        self.post_message(StepChecked(tree, step_id, f))
        self.post_message(FixProgressed(f"re-checked: {f.summary}"))

    def action_fix(self) -> None:
        step_id = self._selected_step()
        f = self.findings[self.tree_name].get(step_id or "")
        if f is None or not f.fixes:
            self.notify("This finding has no fix to run.", severity="warning")
            return
        self._fix_flow(self.tree_name, step_id or "", f)

    @work(group="troubleshoot-confirm", exclusive=True)
    async def _fix_flow(self, tree: str, step_id: str, f: Finding) -> None:
        listing = "\n".join(fx.text() for fx in f.fixes[:8])
        more = f"\n… and {len(f.fixes) - 8} more" if len(f.fixes) > 8 else ""
        ok = await self.app.push_screen(
            ConfirmModal(listing + more, yes="Run them", no="Not now",
                         title=f"Run {len(f.fixes)} fix(es)?"),
            wait_for_dismiss=True)
        if ok:
            self._run_fixes(tree, step_id, f)

    @work(thread=True, exclusive=True, group="troubleshoot-fix", exit_on_error=False,
          description="troubleshooting fix")
    def _run_fixes(self, tree: str, step_id: str, f: Finding) -> None:
        for i, fx in enumerate(f.fixes, 1):
            label = f"fix {i}/{len(f.fixes)}: {fx.text()}"
            self.post_message(FixProgressed(label))

            def progress(rows: list[dict[str, Any]], label: str = label) -> None:
                if rows:
                    r = rows[0]
                    pct = f"{r['percent']}%" if r.get("percent") is not None else r.get("phase")
                    self.post_message(FixProgressed(f"{label} · {r.get('phase')} {pct}"))

            try:
                run_fix(self.target, fx, confirmed=True, journal=self.journal,
                        on_progress=progress)
            except Exception as exc:
                self.post_message(FixProgressed(f"{label} failed: "
                                                f"{getattr(exc, 'message', exc)}"))
                return
        self._recheck(tree, step_id)

    @on(FixProgressed)
    def _fix_progressed(self, message: FixProgressed) -> None:
        self._status(message.text)

    # -- psql and help ----------------------------------------------------------------------
    def query_to_load(self) -> tuple[str | None, str]:
        """The SQL worth having in psql for the selected check: its proposed fix to review,
        else the fixes it would run, else the check's own read-only query."""
        step_id = self._selected_step()
        f = self.findings[self.tree_name].get(step_id or "")
        if f is not None and f.action_sql:
            return f.action_sql, "The finding's SQL (review it before you run it)"
        if f is not None and f.fixes:
            return ";\n".join(fx.text() for fx in f.fixes) + ";", "The finding's fixes"
        if step_id:
            check = TREES[self.tree_name].step(step_id).check
            try:
                text = sql_text(f"checks/{check}.sql")
            except (OSError, KeyError, ValueError):
                return None, ""
            if "{" not in text and "%(" not in text and "%s" not in text:
                # (a template or a parameterised query is not runnable as it is)
                return text, f"The check '{check}' (read-only)"
        return None, ""

    def action_psql(self) -> None:
        query, label = self.query_to_load()
        run = getattr(self.app, "action_psql", None)
        if run is None:
            self.notify("psql is not available here.", severity="warning")
            return
        run(query=query, label=label)

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]] | str]]:
        return [("Troubleshooting", [
            ("up / down", "choose a tree (left), a check (middle), scroll the finding"),
            ("enter", "walk the selected tree: each check runs against the live database"),
            ("tab / shift+tab", "move between the trees, the checks and the finding"),
            ("r", "run the selected check again"),
            ("f", "run the finding's fix (ANALYZE, VACUUM, REINDEX...) after you confirm"),
            ("P", "psql on the target with the finding's SQL (or the check's query) loaded"),
            ("escape", "back"),
        ])]
