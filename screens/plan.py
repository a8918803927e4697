"""The migration plan, readable: each pending file's SQL with syntax colour, and per statement
the lock it takes on which table (with the table's live size), rewrites and lint findings."""

from __future__ import annotations

from typing import Any

import humanize
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

SEVERITY_STYLE = {"danger": "bold red", "warn": "yellow", "info": "dim"}


def render_plan(plan: Any) -> list[RenderableType]:
    """Rich renderables for a ``nchat_tui.plan.Plan`` (one block per file)."""
    out: list[RenderableType] = []
    if plan.drift:
        out.append(Text("Drift: " + ", ".join(f"{d.file} changed since it was recorded"
                                              for d in plan.drift), style="bold red"))
    for w in plan.warnings:
        out.append(Text(f"! {w}", style="yellow"))
    pf = getattr(plan, "preflight", None)
    if pf is not None and pf.problems():
        out.append(Text("Preflight: the files need objects this database lacks (migrate "
                        "refuses until they exist):\n" + "\n".join(f"  {x}" for x in pf.lines()),
                        style="bold red"))
    if not plan.files:
        out.append(Text("Nothing to apply."))
    for fp in plan.files:
        head = Text()
        head.append(f"\n{fp.file}", style="bold reverse")
        head.append(f"  {fp.txn_mode}  strongest lock {fp.strongest_lock or 'none'}  "
                    f"sha256 {fp.checksum[:12]}\n")
        head.append(fp.txn_explanation, style="italic")
        for note in getattr(fp, "notes", []):
            head.append(f"\n{note}", style="yellow")
        for line in getattr(fp, "preflight", []):
            head.append(f"\npreflight {line}", style="bold red")
        out.append(head)
        if fp.parse_error:
            out.append(Text(f"parse error line {fp.parse_error_line}: {fp.parse_error}",
                            style="bold red"))
        for st in fp.statements:
            info = Text()
            info.append(f"#{st.index} line {st.line}: {st.summary}", style="bold")
            for t in st.targets:
                if t.created_by_plan or t.exists is False:
                    size = " (new)"
                elif t.exists:
                    size = (f" ({humanize.naturalsize(t.size_bytes or 0, binary=True)}, "
                            f"~{t.row_estimate or 0:,} rows)")
                else:
                    size = ""  # not looked up (no database)
                info.append(f"\n  {t.lock} on {t.name}{size}")
            for b in getattr(st, "body", []):
                held = ", ".join(f"{lock} on {name}" for name, lock, _role in b["locks"])
                info.append(f"\n  body line {b['line']}: {b['summary']}"
                            + (f" [{held}]" if held else ""))
            if st.rewrite:
                info.append(f"\n  rewrites the table: {st.rewrite_reason}", style="yellow")
            if st.non_transactional:
                info.append(f"\n  cannot run in a transaction: {st.non_transactional_reason}",
                            style="yellow")
            for f in st.findings:
                info.append(f"\n  {f.severity} {f.rule}: {f.message}",
                            style=SEVERITY_STYLE.get(f.severity, ""))
            out.append(info)
            out.append(Syntax(st.sql.strip(), "sql", theme="ansi_dark", word_wrap=True,
                              background_color="default", start_line=st.line,
                              line_numbers=True))
    return out


class PlanScreen(Screen[None]):
    """Read-only view of a plan; escape goes back."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"),
                Binding("j", "down", "Down", show=False), Binding("k", "up", "Up", show=False)]

    def __init__(self, plan: Any) -> None:
        super().__init__(id="plan")
        self.plan = plan

    def compose(self) -> ComposeResult:
        s = self.plan.to_dict()["summary"]
        title = Text.assemble(("Migration plan  ", "bold"),
                              f"{s['files']} file(s), {s['statements']} statement(s), findings "
                              + ", ".join(f"{n} {k}" for k, n in s["findings"].items() if n))
        yield Static(title, id="plan-title")
        with VerticalScroll(id="plan-body"):
            yield Static(Group(*render_plan(self.plan)))
        yield Footer()

    def action_down(self) -> None:
        self.query_one("#plan-body", VerticalScroll).scroll_down()

    def action_up(self) -> None:
        self.query_one("#plan-body", VerticalScroll).scroll_up()
