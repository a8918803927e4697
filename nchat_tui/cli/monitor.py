"""``nchat-tui monitor [--json] [--once] [--tui] [--interval S] [--top N]``: live samples.

``--once --json`` prints one sample as one JSON object; ``--json`` alone prints one object a
line per sample (JSON lines). Without ``--json`` a compact text rendering; ``--tui`` opens the
full dashboard alone (the app's ``m`` screen, without an upgrade session). The sampling never
waits on the locks of the migration it watches (see ``monitor.py``).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from nchat_tui.cli.main import CliContext
from nchat_tui.errors import BadInput
from nchat_tui.fmt import secs_terse as _secs
from nchat_tui.fmt import size as _size
from nchat_tui.monitor.model import Sample
from nchat_tui.monitor.sampler import Monitor, lock_held_text, lock_wait_text
from nchat_tui.quickstart import gc_paused

NAME = "monitor"
FULL_EVERY_S = 10.0
HELP = "live database observability: sizes, connections, slow queries, locks, progress"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="JSON output (with --once one object, else one object a line)")
    p.add_argument("--once", action="store_true", help="take one sample and exit")
    p.add_argument("--tui", action="store_true",
                   help="open the live dashboard (the app's monitor screen) on its own")
    p.add_argument("--interval", type=float, default=2.0, metavar="S",
                   help="seconds between samples (default 2)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="how many tables and slow queries to show (default 10)")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.interval <= 0:
        raise BadInput("--interval must be a positive number of seconds")
    if args.top <= 0:
        raise BadInput("--top must be a positive number")
    mon = Monitor(ctx.target(), top=args.top, slow_limit=args.top)
    if args.tui:
        if args.once or ctx.json:
            raise BadInput("--tui is interactive: it takes neither --once nor --json")
        # connect and take the first sample while Textual imports and the screen mounts:
        # first data then costs the longer of the two, not their sum. The always-read panels
        # only (sessions, locks, the summary): the dashboard asks for the rest right after.
        mon.prefetch(panels=())
        try:
            with gc_paused():
                from nchat_tui.screens.dashboard import (  # noqa: PLC0415 - Textual only here
                    run_dashboard,
                )

                return run_dashboard(mon, interval=args.interval)
        finally:
            mon.close()
    full_at: float | None = None
    try:
        while True:
            started = time.monotonic()
            # every panel on the first sample and every FULL_EVERY_S; in between the
            # connections, locks and progress only (tables and statements cost the most, on
            # the server with many tables, and change slowly): "panels_at" says when each was read
            if args.once or full_at is None or started - full_at >= FULL_EVERY_S:
                s = mon.sample()
                full_at = started
            else:
                s = mon.sample(panels={"progress"})
            if ctx.json:
                if args.once:
                    ctx.emit_json(s.to_json())
                else:
                    ctx.out(json.dumps(s.to_json(), default=str, separators=(",", ":")))
            else:
                for line in render_text(s, top=args.top):
                    ctx.out(line)
            if args.once:
                return 0 if not s.error else 2
            if not ctx.json:
                ctx.out("")
            mon.refresh_size()  # when due: after the output, never inside a sample
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    finally:
        mon.close()


def _pct(r: Any) -> str:
    return f"{100 * float(r):.1f}%" if r is not None else "-"


def render_text(s: Sample, top: int = 10) -> list[str]:
    """A compact, plain-text rendering of one sample (what `monitor` prints without --json)."""
    out: list[str] = []
    acc = s.access
    out.append(f"{s.ts}  {s.target}  PostgreSQL {s.server_version or '?'}"
               f"  sample {s.sample_ms} ms")
    if s.error:
        out.append(f"  ERROR {s.error}")
    if acc.level == "degraded":
        out.append(f"  {acc.label} (fix: {acc.fix})")
    stale = s.stale
    if s.error and stale and not any(st.has_data for st in stale.values()):
        out.append("  nothing sampled yet: every panel needs the connection above")
        return out
    by_reason: dict[tuple[Any, Any], list[str]] = {}
    for name, st in stale.items():  # a lost connection stales every panel for one reason
        by_reason.setdefault((st.since, st.reason), []).append(name)
    for (since, reason), names in by_reason.items():
        out.append(f"  STALE {', '.join(names)} since {since}: {reason}")
    c = s.connections
    chr_ = s.cache_hit_ratio
    tps = s.tps
    tps_text = f"{tps:.1f}" if tps is not None else "-"
    out.append(f"database {_size(s.database_size)}  cache hit "
               f"{_pct(chr_.interval)} interval, {_pct(chr_.cumulative)} "
               f"cumulative  tps {tps_text}")
    if c:
        states = ", ".join(f"{k} {v}" for k, v in c.by_state.items())
        out.append(f"connections {c.total}/{c.max_connections} server-wide "
                   f"({states or 'none'}), {c.this_database} in this database")
        dbs = [d for d in s.databases if d.sessions or d.tps]
        if dbs:
            out.append("  by database: " + "; ".join(
                f"{d.name}{' (this)' if d.current else ''} {d.sessions} sessions"
                f" {d.active} active"
                + (f" {d.lock_waits} lock-waiting" if d.lock_waits else "")
                + (f" {d.tps:.0f} tps" if d.tps is not None else "") for d in dbs))
    sysline = s.host.system
    if s.host.local and sysline:
        out.append(f"host: load {' '.join(f'{x:.2f}' for x in sysline.load)}, "
                   f"memory {sysline.mem_used_pct:.0f}% of "
                   f"{_size(sysline.mem_total)}, disk read "
                   f"{_size(sysline.disk_read_bps)}/s write "
                   f"{_size(sysline.disk_write_bps)}/s")
    if c:
        ox = c.oldest_xact
        if ox:
            out.append(f"  oldest transaction: pid {ox.pid} {_secs(ox.xact_age_s)} "
                       f"({ox.state}, {ox.application or '-'})")
        for x in c.idle_in_transaction[:3]:
            out.append(f"  idle in transaction: pid {x.pid} for {_secs(x.state_age_s)}"
                       f" ({x.application or '-'}, {x.user})"
                       f"{' holding writes' if x.has_xid else ''}")
    locks = s.locks
    if locks.waiting:
        out.append(f"locks: {locks.waiting} waiting, longest {_secs(locks.longest_wait_s)}")
        for n in locks.rows:
            pad = "  " * (n.depth + 1)
            if n.waiting:
                out.append(f"{pad}└ pid {n.pid} {lock_wait_text(n)} for "
                           f"{_secs(n.wait_s)} (queue {n.queue}) "
                           f"{(n.query or '')[:40]!r}")
            else:
                out.append(f"{pad}pid {n.pid} {lock_held_text(n)} "
                           f"({n.state}, {n.application or '-'}, xact "
                           f"{_secs(n.xact_age_s)}) blocks {n.queue}")
    else:
        out.append("locks: none waiting")
    if s.tables:
        out.append(f"{'table':<32} {'total':>10} {'heap':>10} {'index':>10} {'rows':>10} "
                   f"{'dead':>8}")
        for t in s.tables[:top]:
            rows = t.row_estimate
            mark = " LOCKED" if t.locked else ""
            out.append(f"{t.qualified_name[:32]:<32} {_size(t.total_bytes):>10} "
                       f"{_size(t.heap_bytes):>10} {_size(t.index_bytes):>10} "
                       f"{rows if rows is not None else '?':>10} "
                       f"{t.dead_tuples if t.dead_tuples is not None else '-':>8}"
                       f"{mark}")
    sq = s.slow_queries
    if sq.unavailable:
        out.append(f"slow queries: unavailable ({sq.state}): {sq.unavailable}"
                   + (f"; fix: {sq.fix}" if sq.fix else ""))
    else:
        if sq.outdated:
            o = sq.outdated
            out.append(f"pg_stat_statements {o.installed} is older than the server's "
                       f"{o.default}: {o.fix}")
        out.append("slow queries (by total time" + (", since last sample)" if sq.deltas
                                                    else ")") + (
            f"; {len(sq.monitoring)} monitoring statements left out"
            if sq.monitoring else ""))
        for q in sq.top_by_total[:min(top, 5)]:
            text = " ".join((q.query or "").split())[:60]
            out.append(f"  {q.calls:>8} calls {q.mean_ms:>9.2f} ms mean "
                       f"{q.total_ms:>10.0f} ms total  {text}")
    for p in s.progress:
        pct = f"{p.percent}%" if p.percent is not None else f"{p.done} {p.unit}"
        out.append(f"progress: {p.kind} {p.relation} {p.phase} {pct} "
                   f"(pid {p.pid})")
    rep = s.replication
    for r in rep.replicas if rep else []:
        out.append(f"replica {r.application} {r.state} lag "
                   f"{_size(r.lag_bytes)} replay {_secs(r.replay_lag_s)}")
    if rep and rep.in_recovery:
        out.append(f"this server is a standby; replay delay {_secs(rep.replay_delay_s)}")
    return out
