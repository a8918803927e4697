"""Row counts for the post-migration verification: exact unless the operator asks otherwise.

A verification that passes lost data is worse than none, so every table is counted exactly
(``count(*)``) by default, with progress (table, bytes, elapsed) and a time budget the
operator sees; a table the budget could not reach is *not counted*, never assumed fine.

Estimates are used only for the tables the operator names by size (``estimate_over_bytes``).
Each of them is ANALYZEd first (fresh ``reltuples``), and the estimate carries its error:
when ANALYZE read every page of the table the error is the float4 rounding of ``reltuples``
only; otherwise ANALYZE's row count is its per-page mean over the pages it sampled times the
table's pages, whose standard error is measured here from the spread of live rows over a
thousand random pages read by TID (three standard errors are reported; the spread is taken
at least as large as pages that differ in 3 of every ``k`` probed would make it, the rule of
three, so uneven pages the probe happened to miss still count). An estimate is never an ``ok``:
the caller shows it as an estimate, and fails it only when it is below the before count by
more than its error.

It only reads, apart from ANALYZE (planner statistics) when estimates are asked for.
No textual here.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.pg.objkeys import key
from nchat_tui.pg.queries import ParamIdentifier, sql_template
from nchat_tui.pg.tools import Cancelled

DEFAULT_BUDGET_S = 1800.0
"""The default time budget for all exact counts of one verification (30 minutes)."""
PROBE_PAGES = 1000
"""Pages read by TID range (PostgreSQL 14+) to measure how live rows spread over pages, for an
estimate's error; 100 pages by TID list on older servers."""
PROBE_PAGES_OLD = 100
SIGMAS = 3
FLOAT4_REL = 2.0 ** -23
"""reltuples is a float4: its rounding is at most this fraction of the value."""

Say = Callable[[str, float | None], None]


@dataclass
class TableCount:
    table: str
    """The table's ``objkeys`` key."""
    method: str
    """``exact``, ``estimate`` or ``not_counted``."""
    rows: int | None = None
    error: int | None = None
    """For an estimate: the true count is within ``rows +- error`` (3 standard errors)."""
    note: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BudgetSpent(Exception):
    """The time budget for counting ran out (the caller marks the rest not counted)."""


@contextlib.contextmanager
def cancel_watch(conn: psycopg.Connection[Any], cancel: threading.Event | None
                 ) -> Iterator[None]:
    """While inside, setting ``cancel`` cancels the statement running on ``conn``."""
    if cancel is None:
        yield
        return
    done = threading.Event()

    def run() -> None:
        while not done.wait(0.2):
            if cancel.is_set():
                with contextlib.suppress(Exception):
                    conn.cancel_safe()
                return

    th = threading.Thread(target=run, name="nchat-tui count cancel", daemon=True)
    th.start()
    try:
        yield
    finally:
        done.set()
        th.join(1.0)


class Counter:
    """Counts tables on ``conn`` (autocommit) within ``budget_s`` seconds in all."""

    def __init__(self, conn: psycopg.Connection[Any], *, budget_s: float = DEFAULT_BUDGET_S,
                 cancel: threading.Event | None = None) -> None:
        self.conn = conn
        self.budget_s = float(budget_s)
        self.cancel = cancel
        self.t0 = time.monotonic()
        self.spent = False

    # -- the budget ----------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def remaining_ms(self) -> int:
        return int((self.budget_s - self.elapsed()) * 1000)

    def _timeout(self) -> None:
        left = self.remaining_ms()
        if left <= 0:
            self.spent = True
            raise BudgetSpent
        self.conn.execute(sql.SQL("SET statement_timeout = {}").format(
            sql.Literal(f"{max(left, 1)}ms")))

    def _run(self, query: sql.SQL | sql.Composed, params: dict[str, Any] | None = None
             ) -> list[dict[str, Any]]:
        """One statement under the remaining budget; the budget or a cancel ends it."""
        self._timeout()
        try:
            with cancel_watch(self.conn, self.cancel), \
                    self.conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                return [dict(r) for r in cur.fetchall()] if cur.description else []
        except psycopg.errors.QueryCanceled:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("verification cancelled by the operator") from None
            self.spent = True
            raise BudgetSpent from None

    def query(self, query: sql.SQL | sql.Composed, params: dict[str, Any] | None = None
              ) -> list[dict[str, Any]] | None:
        """Any read under the remaining budget (None when the budget is spent)."""
        if self.spent:
            return None
        try:
            return self._run(query, params)
        except BudgetSpent:
            return None

    def done(self) -> None:
        """Put the session's statement timeout back to its default."""
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("RESET statement_timeout")

    # -- exact -----------------------------------------------------------------------------------
    def exact(self, schema: str, name: str) -> TableCount:
        k = key(schema, name)
        t0 = time.monotonic()
        if self.spent:
            return TableCount(k, "not_counted", note="not reached: the time budget was spent")
        try:
            rows = self._run(sql_template("snapshot/count_rows.sql").format(
                table=sql.Identifier(schema, name)))
        except BudgetSpent:
            return TableCount(k, "not_counted", seconds=round(time.monotonic() - t0, 3),
                              note=f"the time budget ({self.budget_s:g}s) ran out while "
                                   "counting it")
        except psycopg.errors.LockNotAvailable as exc:
            return TableCount(k, "not_counted", seconds=round(time.monotonic() - t0, 3),
                              note=f"locked by another session: {exc.diag.message_primary}")
        except psycopg.errors.InsufficientPrivilege as exc:
            return TableCount(k, "not_counted", seconds=round(time.monotonic() - t0, 3),
                              note=f"this role may not read it: {exc.diag.message_primary} "
                                   "(count as the owner or a superuser)")
        return TableCount(k, "exact", int(rows[0]["count"]),
                          seconds=round(time.monotonic() - t0, 3))

    # -- estimate ------------------------------------------------------------------------------
    def estimate(self, schema: str, name: str) -> TableCount:
        """ANALYZE the table, then its reltuples with an error (falls back to exact)."""
        k = key(schema, name)
        t0 = time.monotonic()
        if self.spent:
            return TableCount(k, "not_counted", note="not reached: the time budget was spent")
        skipped: list[str] = []

        def notice(diag: psycopg.errors.Diagnostic) -> None:
            if (diag.severity_nonlocalized or diag.severity) == "WARNING":
                skipped.append(diag.message_primary or "")

        self.conn.add_notice_handler(notice)
        try:
            self._run(sql_template("verify/analyze_table.sql").format(
                table=sql.Identifier(schema, name)))
        except BudgetSpent:
            return TableCount(k, "not_counted", seconds=round(time.monotonic() - t0, 3),
                              note=f"the time budget ({self.budget_s:g}s) ran out during "
                                   "ANALYZE")
        except psycopg.errors.LockNotAvailable as exc:
            return TableCount(k, "not_counted", seconds=round(time.monotonic() - t0, 3),
                              note=f"locked by another session: {exc.diag.message_primary}")
        finally:
            self.conn.remove_notice_handler(notice)
        facts = self._run(sql_template("verify/estimate_facts.sql"),
                          {"schema": schema, "name": name})
        if skipped or not facts or facts[0]["reltuples"] is None or facts[0]["reltuples"] < 0:
            why = skipped[0] if skipped else "ANALYZE left no row estimate"
            c = self.exact(schema, name)
            c.note = f"counted exactly: cannot estimate ({why})"
            return c
        f = facts[0]
        pages, sample = int(f["relpages"]), int(f["sample_rows"])
        est = round(float(f["reltuples"]))
        rounding = math.ceil(est * FLOAT4_REL)
        if pages <= sample:
            err = rounding
            note = (f"ANALYZE read all {pages} page(s): exact when it ran, apart from float "
                    "rounding; rows written since are not in it")
        else:
            try:
                spread = self._page_spread(schema, name, pages, int(f["block_size"]))
            except BudgetSpent:
                return TableCount(k, "not_counted", seconds=round(time.monotonic() - t0, 3),
                                  note="the time budget ran out while measuring the estimate's "
                                       "error")
            probed, sd = spread
            se = pages * sd / math.sqrt(sample) * math.sqrt(1 - sample / pages)
            err = math.ceil(SIGMAS * se) + rounding
            note = (f"ANALYZE sampled {sample} of {pages} pages; the error is {SIGMAS} standard "
                    f"errors, from the spread of live rows over {probed} random pages")
        return TableCount(k, "estimate", est, err, note, round(time.monotonic() - t0, 3))

    def _page_spread(self, schema: str, name: str, pages: int, block_size: int
                     ) -> tuple[int, float]:
        """(pages read, standard deviation of live rows per page) over random pages, at
        least the rule-of-three floor (see the module doc)."""
        table = ParamIdentifier(schema, name)  # these queries take parameters too
        ranged = self.conn.info.server_version >= 140000
        n = min(pages, PROBE_PAGES if ranged else PROBE_PAGES_OLD)
        blocks = sorted(random.Random(f"{schema}.{name}.{pages}").sample(range(pages), n))
        if ranged:
            rows = self._run(sql_template("verify/block_sample_range.sql").format(
                table=table), {"blocks": blocks})
        else:
            per_page = max(1, (block_size - 24) // 28)  # MaxHeapTuplesPerPage
            tids = [f"({b},{i})" for b in blocks for i in range(1, per_page + 1)]
            rows = self._run(sql_template("verify/block_sample.sql").format(
                table=table), {"tids": tids})
        live = {int(r["block"]): int(r["live"]) for r in rows}
        values = [live.get(b, 0) for b in blocks]
        mean = sum(values) / n
        var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        p = min(0.5, 3 / n)  # up to 3 in n pages may differ unseen (rule of three)
        floor = mean * math.sqrt(p * (1 - p))
        return n, max(math.sqrt(var), floor)


def describe(c: TableCount) -> str:
    """One table's count in words."""
    if c.method == "exact":
        return f"{c.rows:,} row(s)"
    if c.method == "estimate":
        return f"about {c.rows:,} row(s) +- {c.error:,} (estimate after ANALYZE)"
    return f"not counted ({c.note})"


__all__ = ["DEFAULT_BUDGET_S", "BudgetSpent", "Counter", "TableCount", "cancel_watch",
           "describe"]
