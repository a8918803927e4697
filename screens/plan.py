"""The migration plan, readable: each pending file's SQL with syntax colour, and per statement
the lock it takes on which table (with the table's live size), rewrites and lint findings."""

from __future__ import annotations

from dataclasses import asdict

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from nchat_tui import fmt
from nchat_tui.migrate.plan import FilePlan, Plan, Statement

SEVERITY_STYLE = {"danger": "bold red", "warn": "yellow", "info": "dim"}


def _statement_blocks(fp: FilePlan, st: Statement) -> list[RenderableType]:
    info = Text()
    info.append(f"#{st.index} line {st.line}: {st.summary}", style="bold")
    for t in st.targets:
        if t.created_by_plan or t.exists is False:
            size = " (new)"
        elif t.exists:
            size = (f" ({fmt.size(t.size_bytes or 0)}, "
                    f"~{t.row_estimate or 0:,} rows)")
        else:
            size = ""  # not looked up (no database)
        info.append(f"\n  {t.lock} on {t.name}{size}")
    for b in st.body:
        held = ", ".join(f"{lock.lock} on {lock.name}" for lock in b.locks)
        info.append(f"\n  body line {b.line}: {b.summary}" + (f" [{held}]" if held else ""))
    if st.rewrite:
        info.append(f"\n  rewrites the table: {st.rewrite_reason}", style="yellow")
    if st.non_transactional:
        info.append(f"\n  cannot run in a transaction: {st.non_transactional_reason}",
                    style="yellow")
    for f in st.findings:
        info.append(f"\n  {f.severity} {f.rule}: {f.message}",
                    style=SEVERITY_STYLE.get(f.severity, ""))
    return [info, Syntax(st.sql.strip(), "sql", theme="ansi_dark", word_wrap=True,
                         background_color="default", start_line=st.line, line_numbers=True)]


def _file_head(fp: FilePlan) -> list[RenderableType]:
    head = Text()
    head.append(f"\n{fp.file}", style="bold reverse")
    head.append(f"  {fp.txn_mode}  strongest lock {fp.strongest_lock or 'none'}  "
                f"sha256 {fp.checksum[:12]}\n")
    head.append(fp.txn_explanation, style="italic")
    for note in fp.notes:
        head.append(f"\n{note}", style="yellow")
    for line in fp.preflight:
        head.append(f"\npreflight {line}", style="bold red")
    out: list[RenderableType] = [head]
    if fp.parse_error:
        out.append(Text(f"parse error line {fp.parse_error_line}: {fp.parse_error}",
                        style="bold red"))
    return out


def _preamble(plan: Plan) -> list[RenderableType]:
    out: list[RenderableType] = []
    if plan.drift:
        out.append(Text("Drift: " + ", ".join(f"{d.file} changed since it was recorded"
                                              for d in plan.drift), style="bold red"))
    for w in plan.warnings:
        out.append(Text(f"! {w}", style="yellow"))
    pf = plan.preflight
    if pf is not None and pf.problems():
        out.append(Text("Preflight: the files need objects this database lacks (migrate "
                        "refuses until they exist):\n" + "\n".join(f"  {x}" for x in pf.lines()),
                        style="bold red"))
    if not plan.files:
        out.append(Text("Nothing to apply."))
    return out


FLAGGED = ("warn", "danger")
"""The findings ``n`` / ``N`` jump between (info findings are many and routine)."""


class StatementBlock(Static):
    """One statement of the plan; ``flagged`` when it carries a warn or danger finding."""

    def __init__(self, renderable: RenderableType, flagged: bool, label: str) -> None:
        super().__init__(renderable)
        self.flagged = flagged
        self.label = label


class PlanScreen(Screen[None]):
    """Read-only view of a plan; n / N jump between the statements with warnings; escape
    goes back."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"),
                Binding("n", "next_finding", "Next warning"),
                Binding("N", "next_finding(-1)", "Previous", key_display="N"),
                Binding("j", "down", "Down", show=False), Binding("k", "up", "Up", show=False),
                Binding("pagedown,space", "page(1)", "Page", show=False),
                Binding("pageup", "page(-1)", "Page", show=False)]
    HELP_TITLE = "the migration plan"

    def __init__(self, plan: Plan) -> None:
        super().__init__(id="plan")
        self.plan = plan
        self.at: int | None = None
        """Index (among the flagged statements) of the one the operator jumped to last."""
        self.n_flagged = sum(1 for fp in plan.files for st in fp.statements
                             if any(f.severity in FLAGGED for f in st.findings))

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="plan-title")
        with VerticalScroll(id="plan-body"):
            pre = _preamble(self.plan)
            if pre:
                yield Static(Group(*pre))
            for fp in self.plan.files:
                yield Static(Group(*_file_head(fp)))
                for st in fp.statements:
                    flagged = any(f.severity in FLAGGED for f in st.findings)
                    yield StatementBlock(Group(*_statement_blocks(fp, st)), flagged,
                                         f"{fp.file} #{st.index} line {st.line}")
        yield Footer()

    def _title(self) -> Text:
        s = self.plan.summary()
        n = self.n_flagged
        where = (f"warning {self.at + 1} of {n} · " if self.at is not None else "")
        t = Text.assemble(("Plan ", "bold"), (where, "bold yellow"),
                          f"{s.files} file(s), {s.statements} statement(s), "
                          + (", ".join(f"{c} {k}" for k, c in asdict(s.findings).items() if c)
                             or "no finding"))
        t.no_wrap, t.overflow = True, "ellipsis"
        return t

    def flagged(self) -> list[StatementBlock]:
        return [b for b in self.query(StatementBlock) if b.flagged]

    def action_next_finding(self, step: int = 1) -> None:
        blocks = self.flagged()
        if not blocks:
            self.notify("No statement of this plan has a warning.", timeout=4)
            return
        self.at = 0 if self.at is None and step > 0 else \
            len(blocks) - 1 if self.at is None else (self.at + step) % len(blocks)
        self.query_one("#plan-body", VerticalScroll).scroll_to_widget(
            blocks[self.at], top=True, animate=False)
        self.query_one("#plan-title", Static).update(self._title())

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]] | str]]:
        return [("The migration plan", [
            ("n / N", "jump to the next / previous statement with a warning or danger finding"),
            ("j / k, up / down", "scroll a line"),
            ("page down / up, space", "scroll a page"),
            ("escape", "back"),
        ]), ("What it shows", "Per file: how it runs (atomic with its ledger rows, or statement "
             "by statement), its strongest lock and checksum. Per statement: the lock it takes "
             "on which table, with the table's live size and rows; rewrites; statements that "
             "cannot run in a transaction; the lint findings (danger, warn, info).")]

    def action_down(self) -> None:
        self.query_one("#plan-body", VerticalScroll).scroll_down()

    def action_up(self) -> None:
        self.query_one("#plan-body", VerticalScroll).scroll_up()

    def action_page(self, pages: int) -> None:
        body = self.query_one("#plan-body", VerticalScroll)
        body.scroll_relative(y=pages * max(1, body.size.height - 1), animate=False)
