"""The upgrade report: one session's journal rendered as Markdown for a change ticket.

It holds what a reviewer asks after the fact: which database (masked), who, from where, with
which tool and server versions; every phase and step with its state, evidence and timing; the
backup's manifest summary; the migration plan, lint and run; the verification result and its
diff; every decision and override with its reason; the commands run. It is built only from the
journal (and the backup manifest the journal names), so it can be regenerated at any time.

It must never carry a secret: every record is scrubbed again with ``journal.scrub`` and the
finished text is scrubbed once more (DSN and ``password=`` forms, plus any literal secret the
caller passes). It never connects to the database and never imports textual.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nchat_tui import __version__
from nchat_tui.backup.engine import manifest_path_for
from nchat_tui.errors import BadInput
from nchat_tui.fmt import duration as _dur
from nchat_tui.state.journal import Journal, scrub, target_key
from nchat_tui.state.safeio import contained
from nchat_tui.upgrade.checklist import ChecklistError, load_path

EVIDENCE_CHARS = 2500
MAX_ROWS = 200
STATE_MARK = {"ok": "ok", "warn": "warn", "failed": "FAILED", "skipped": "skipped",
              "pending": "pending", "running": "running", "interrupted": "INTERRUPTED"}


def _ts(s: Any) -> dt.datetime | None:
    if not s:
        return None
    try:
        return dt.datetime.fromisoformat(str(s))
    except ValueError:
        return None


def _cell(v: Any, limit: int = 160) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _json_block(v: Any, limit: int = EVIDENCE_CHARS) -> list[str]:
    text = json.dumps(v, indent=1, default=str, sort_keys=True)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters in the journal)"
    return ["```json", text, "```"]


def _details(title: str, body: list[str]) -> list[str]:
    return ["<details><summary>" + title + "</summary>", "", *body, "", "</details>", ""]


def session_dir_for(state_dir: Path, masked_target: str, session: str | None = None) -> Path:
    """The session to report: ``session`` (an id or a journal path), else the target's
    current one, else its newest."""
    if session:
        p = Path(session)
        if p.is_file():
            return p.parent
        if p.is_dir() and (p / "journal.jsonl").is_file():
            return p
        d = state_dir / "sessions" / session
        if (d / "journal.jsonl").is_file():
            return d

        raise BadInput(f"no session {session!r} under {state_dir / 'sessions'}")
    pointer = state_dir / "targets" / f"{target_key(masked_target)}.current"
    if pointer.is_file():
        cur = contained(state_dir / "sessions", pointer.read_text(errors="replace").strip())
        if cur is not None and (cur / "journal.jsonl").is_file():  # never leads outside
            return cur
    mine = [p.parent for p in Journal.list_sessions(state_dir)
            if _first_target(p) == masked_target]
    if not mine:
        raise BadInput(f"no session journal for {masked_target} under {state_dir / 'sessions'}")
    return sorted(mine, key=lambda d: (d / "journal.jsonl").stat().st_mtime)[-1]


def _first_target(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
        return first.get("target")
    except (OSError, ValueError):
        return None


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, head: list[str], rows: Iterable[list[Any]]) -> None:
        self.add("| " + " | ".join(head) + " |", "|" + "---|" * len(head))
        for n, r in enumerate(rows, 1):
            if n > MAX_ROWS:
                self.add("| … | more rows in the journal |" + " |" * (len(head) - 2))
                break
            self.add("| " + " | ".join(_cell(c) for c in r) + " |")
        self.add("")


def render_report(records: list[dict[str, Any]], *, session_id: str = "",
                  damaged: int = 0, secrets: Iterable[str] = (),
                  backup_dir: Path | None = None) -> str:
    """Markdown for one session's records (already read from its journal).

    ``backup_dir``: the target's backup directory. The latest backup's manifest is read only
    from inside it: the journal names the backup file, and a journal edited by hand must not
    make the report read (and print) a file elsewhere. Without it no manifest is read."""
    recs = [scrub(r) for r in records]
    doc = _Doc()
    started = next((r for r in recs if r.get("event") == "session_started"), recs[0] if recs
                   else {})
    opened = [r for r in recs if r.get("event") == "checklist_opened"]
    path_id = opened[-1].get("path") if opened else None
    title = opened[-1].get("title") if opened else None
    users = sorted({str(r["user"]) for r in recs if r.get("user")})
    hosts = sorted({str(r["host"]) for r in recs if r.get("host")})
    first, last = (_ts(recs[0].get("ts")), _ts(recs[-1].get("ts"))) if recs else (None, None)
    server = _server_version(recs, backup_dir)
    pg_dump = _pg_dump_version(recs, backup_dir)
    target = started.get("target") or next((r.get("target") for r in recs if r.get("target")),
                                           "unknown")

    doc.add(f"# nChat database upgrade report{': ' + title if title else ''}", "")
    doc.add(f"**Outcome: {_outcome(recs)}**", "")
    doc.table(["", ""], [
        ["Session", session_id or "?"],
        ["Target (masked)", target],
        ["Upgrade path", path_id or "none opened"],
        ["Operator(s)", ", ".join(users) or "?"],
        ["Host(s)", ", ".join(hosts) or "?"],
        ["Started", first.isoformat(timespec="seconds") if first else "?"],
        ["Last record", last.isoformat(timespec="seconds") if last else "?"],
        ["Elapsed", _dur((last - first).total_seconds()) if first and last else "?"],
        ["Tool", f"nchat-tui {__version__}"],
        ["PostgreSQL server", server or "not recorded"],
        ["pg_dump", pg_dump or "not recorded"],
        ["Report generated", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")],
    ])
    _summary(doc, recs)
    _steps(doc, recs, path_id)
    _backup(doc, recs, backup_dir)
    _migration(doc, recs)
    _verification(doc, recs)
    _rollback(doc, recs)
    _decisions(doc, recs)
    _commands(doc, recs)
    _other(doc, recs)
    if damaged:
        doc.add("## Journal integrity", "",
                f"{damaged} damaged line(s) in the journal were skipped (a crash cut a write).",
                "")
    text = "\n".join(doc.lines).rstrip() + "\n"
    return scrub_text(text, secrets)


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask DSN and ``password=`` passwords, and every literal secret given."""
    out = str(scrub(text, sql=False))  # a whole document: its records were scrubbed one by one
    for s in secrets:
        if s and len(s) >= 3:
            out = out.replace(s, "***")
    return out


def _server_version(recs: list[dict[str, Any]], backup_dir: Path | None) -> str | None:
    for r in recs:
        ev = r.get("evidence")
        if isinstance(ev, dict) and ev.get("server_version"):
            return str(ev["server_version"])
    for r in recs:
        if r.get("server_version"):
            return str(r["server_version"])
    m = _manifest(recs, backup_dir)
    return str(m["server_version"]) if m and m.get("server_version") else None


def _pg_dump_version(recs: list[dict[str, Any]], backup_dir: Path | None) -> str | None:
    for r in recs:
        if r.get("event") == "backup_started" and r.get("pg_dump"):
            return _cell(r["pg_dump"], 120)
    m = _manifest(recs, backup_dir)
    return str(m["pg_dump_version"]) if m and m.get("pg_dump_version") else None


def _manifest_path(recs: list[dict[str, Any]]) -> Path | None:
    """The latest finished backup's manifest, as the journal names it (unchecked)."""
    for r in reversed(recs):
        if r.get("event") == "backup_finished" and r.get("file"):
            return manifest_path_for(Path(str(r["file"])))
    return None


def _inside(path: Path, directory: Path) -> bool:
    try:
        return path.resolve().is_relative_to(directory.resolve())
    except (OSError, ValueError):
        return False


def _manifest(recs: list[dict[str, Any]], backup_dir: Path | None) -> dict[str, Any] | None:
    """The latest backup's manifest, read only from inside ``backup_dir``."""
    mp = _manifest_path(recs)
    if mp is None or backup_dir is None or not _inside(mp, backup_dir):
        return None
    try:
        data = json.loads(mp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return scrub(data) if isinstance(data, dict) else None


def _run_directions(recs: list[dict[str, Any]]) -> dict[str, str]:
    """run_id -> direction (``up``/``down``), from each run's ``migrate_started``."""
    return {str(r.get("run_id")): str(r.get("direction") or "up") for r in recs
            if r.get("event") == "migrate_started" and r.get("run_id")}


DB_CHANGES = ("migrate_finished", "rollback_down_finished", "rollback_swap_finished")


def _changes(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What changed the database, in order: up runs, down rollbacks, restore swaps (a down
    rollback's own runner run is told by its rollback record, not twice)."""
    dirs = _run_directions(recs)
    return [r for r in recs if r.get("event") in DB_CHANGES
            and not (r["event"] == "migrate_finished"
                     and dirs.get(str(r.get("run_id")), "up") == "down")]


def _at(r: dict[str, Any]) -> str:
    who = f" by {r['user']}" if r.get("user") else ""
    return f"{str(r.get('ts', ''))[:19].replace('T', ' ')} UTC{who}"


def _outcome(recs: list[dict[str, Any]]) -> str:
    """One line on what the database is now, said first: a reader who stops there knows
    whether the upgrade is in place or was rolled back."""
    changes = _changes(recs)
    if not changes:
        return "no database change was made in this session"
    last = changes[-1]
    e = last["event"]
    earlier_rollback = any(c["event"] != "migrate_finished" for c in changes[:-1])
    if e == "rollback_down_finished":
        if last.get("status") in ("ok", "nothing_to_do") and last.get("inventory_equal"):
            return (f"ROLLED BACK with the down migrations at {_at(last)}: the schema equals "
                    "the before-snapshot; the migration run reported below is no longer in "
                    "effect")
        return (f"ROLLBACK FAILED (down migrations, run {last.get('status')}) at {_at(last)}: "
                "the schema " + ("equals" if last.get("inventory_equal") else "DIFFERS from")
                + " the before-snapshot; see Rollback and maintenance")
    if e == "rollback_swap_finished":
        return (f"ROLLED BACK by restoring {Path(str(last.get('backup') or '?')).name} at "
                f"{_at(last)}: {last.get('database')} is the restored copy, the old database "
                f"is kept as {last.get('old_database')}; the migration run reported below is "
                "no longer in effect")
    files = ", ".join(last.get("committed") or []) or "none"
    again = " (after an earlier rollback)" if earlier_rollback else ""
    if last.get("status") == "ok":
        return f"MIGRATED at {_at(last)}{again}: committed {files}"
    if last.get("status") == "nothing_to_do":
        return f"no migration was pending at {_at(last)}{again}"
    return (f"MIGRATION {str(last.get('status')).upper()} at {_at(last)}{again}: committed "
            f"{files}; see Migration plan, lint and run")


def _summary(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    final: dict[str, str] = {}
    for r in recs:
        if r.get("event") == "step" and r.get("step"):
            final[str(r["step"])] = str(r.get("state"))
    counts: dict[str, int] = {}
    for st in final.values():
        counts[st] = counts.get(st, 0) + 1
    ver = [r for r in recs if r.get("event") == "verification"]
    overrides = [r for r in recs if r.get("event") == "override"]
    decisions = [r for r in recs if r.get("event") in ("decision", "migrate_decision",
                                                       "rollback_decision")]
    doc.add("## Summary", "")
    doc.add("- Steps: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                            or "none recorded"))
    changes = _changes(recs)
    rollbacks = [c for c in changes if c["event"] != "migrate_finished"]
    if rollbacks:
        rb = rollbacks[-1]
        how = ("down migrations" if rb["event"] == "rollback_down_finished"
               else f"restore of {Path(str(rb.get('backup') or '?')).name}")
        doc.add(f"- Rollback: {how} at {_at(rb)}"
                + ("" if rb is changes[-1] else "; migrated again since"))
    if ver:
        v = ver[-1]
        stale = "" if not rollbacks or str(rollbacks[-1].get("ts")) < str(v.get("ts")) else \
            f" at {_at(v)}, before the rollback: it no longer describes the database"
        doc.add(f"- Verification: {'passed' if v.get('ok') else 'FAILED'}"
                + (f" ({', '.join(v.get('failed') or [])})" if not v.get("ok") else "") + stale)
    else:
        doc.add("- Verification: not run in this session")
    doc.add(f"- Decisions: {len(decisions)}; overrides: {len(overrides)}")
    ups = [c for c in changes if c["event"] == "migrate_finished"]
    if ups:
        doc.add(f"- Migration run: {ups[-1].get('status')} at {_at(ups[-1])}; committed: "
                + (", ".join(ups[-1].get("committed") or []) or "none"))
    _interrupted_runs(doc, recs)
    doc.add("")


def _interrupted_runs(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    """Runs that never journaled their end: what the ledger said when a later start
    reconciled them (the ledger is the truth), or that it has not been checked yet."""
    finished = {r.get("run_id") for r in recs if r.get("event") == "migrate_finished"}
    reconciled = {r.get("run_id"): r for r in recs if r.get("event") == "migrate_reconciled"}
    for r in recs:
        rid = r.get("run_id")
        if r.get("event") != "migrate_started" or rid in finished:
            continue
        rec = reconciled.get(rid)
        if rec is None:
            doc.add(f"- Interrupted run {rid} (pid {r.get('pid')}, started "
                    f"{str(r.get('ts'))[:19]}): not yet checked against the ledger (the journal "
                    "alone cannot show a commit made just before the kill); any nchat-tui "
                    "command against the database checks it")
            continue
        line = (f"- Interrupted run {rid} (pid {r.get('pid')}, started {str(r.get('ts'))[:19]}):"
                f" committed per the ledger: {', '.join(rec.get('files_committed') or []) or 'none'}")
        if rec.get("files_not_committed"):
            line += f"; not committed: {', '.join(rec['files_not_committed'])}"
        if rec.get("journal_missed"):
            line += (f"; the kill came between the COMMIT of {', '.join(rec['journal_missed'])} "
                     "and its journal line")
        if rec.get("invalid_indexes"):
            line += "; invalid indexes: " + ", ".join(i.get("index", "?")
                                                       for i in rec["invalid_indexes"])
        doc.add(line)


def _steps(doc: _Doc, recs: list[dict[str, Any]], path_id: str | None) -> None:
    titles: dict[str, str] = {}
    phases: list[tuple[str, str, list[str]]] = []
    if path_id:
        try:
            up = load_path(path_id)
            for ph in up.phases:
                phases.append((ph.id, ph.title, [s.key for s in ph.steps]))
                for s in ph.steps:
                    titles[s.key] = s.title
        except (ChecklistError, OSError, KeyError):
            pass
    hist: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        if r.get("event") == "step" and r.get("step"):
            hist.setdefault(str(r["step"]), []).append(r)
    known = {k for _, _, keys in phases for k in keys}
    extra = [k for k in hist if k not in known]
    if extra:
        phases.append(("other", "Other steps", extra))
    doc.add("## Phases and steps", "")
    if not hist:
        doc.add("No checklist step was recorded in this session.", "")
        return
    for _pid, ptitle, keys in phases:
        if not any(k in hist for k in keys):
            doc.add(f"### {ptitle}", "", "Not started.", "")
            continue
        doc.add(f"### {ptitle}", "")
        rows = []
        evid: list[str] = []
        for k in keys:
            h = hist.get(k)
            if not h:
                rows.append([titles.get(k, k), "pending", "", "", "", ""])
                continue
            last = h[-1]
            started = next((_ts(x.get("ts")) for x in reversed(h) if x.get("state") == "running"),
                           None)
            ended = _ts(last.get("ts"))
            took = (ended - started).total_seconds() if started and ended and \
                last.get("state") != "running" else None
            runs = sum(1 for x in h if x.get("state") == "running")
            summary = str(last.get("summary") or "")
            if last.get("note"):
                summary += f" (note: {last['note']})"
            rows.append([titles.get(k, k), STATE_MARK.get(str(last.get("state")),
                                                          str(last.get("state"))),
                         last.get("user") or "", str(last.get("ts") or "")[:19].replace("T", " "),
                         _dur(took) + (f" ({runs} runs)" if runs > 1 else ""), summary])
            if last.get("evidence") not in (None, {}, []):
                evid += _details(f"Evidence: {titles.get(k, k)}", _json_block(last["evidence"]))
        doc.table(["Step", "State", "By", "At (UTC)", "Took", "Summary"], rows)
        doc.add(*evid)


def _backup(doc: _Doc, recs: list[dict[str, Any]], backup_dir: Path | None) -> None:
    ev = [r for r in recs if str(r.get("event", "")).startswith(("backup_", "restore_",
                                                                 "verify_started",
                                                                 "verify_finished"))]
    if not ev:
        return
    doc.add("## Backup", "")
    doc.table(["At (UTC)", "Event", "Details"], [
        [str(r.get("ts", ""))[:19].replace("T", " "), r["event"],
         {k: v for k, v in r.items() if k not in ("seq", "ts", "event", "user", "host", "pid")}]
        for r in ev])
    m = _manifest(recs, backup_dir)
    mp = _manifest_path(recs)
    if mp is not None and backup_dir is not None and not _inside(mp, backup_dir):
        doc.add(f"Manifest not read: the journal names {_cell(str(mp), 200)}, outside the "
                f"backup directory {_cell(str(backup_dir), 200)}. Check the journal: it may "
                "have been edited.", "")
    if m:
        snap = m.get("snapshot") or {}
        ver = m.get("verification") or {}
        doc.add("Manifest of the latest backup:", "")
        doc.table(["", ""], [
            ["File", m.get("file")], ["State", m.get("state")], ["Format", m.get("format")],
            ["Size (bytes)", m.get("size")], ["sha256", m.get("sha256")],
            ["Database", m.get("database")], ["Server", m.get("server_version")],
            ["pg_dump", m.get("pg_dump_version")],
            ["Started / finished", f"{m.get('started_at')} / {m.get('finished_at')}"],
            ["Snapshot taken", snap.get("taken_at")],
            ["Tables / rows counted", f"{len(snap.get('row_counts') or {})} / "
                                      f"{snap.get('total_rows')}"],
            ["Counted as", (snap.get("counted_as") or {}).get("role")],
            ["RLS could hide rows", (snap.get("rls") or {}).get("rls_could_hide_rows")],
            ["Verification", ver.get("ok") if isinstance(ver, dict) and "ok" in ver
             else _cell(ver, 200)],
        ])


def _migration(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    plan = [r for r in recs if str(r.get("event", "")).startswith(("plan", "lint"))]
    mig = [r for r in recs if str(r.get("event", "")).startswith("migrate_")]
    if not plan and not mig:
        return
    doc.add("## Migration plan, lint and run", "")
    for r in plan:
        doc.add(f"- {str(r.get('ts', ''))[:19]} {r['event']}", "")
        doc.add(*_details("plan details", _json_block(
            {k: v for k, v in r.items() if k not in ("seq", "user", "host", "pid")})))
    files = [r for r in mig if r["event"] == "migrate_file_finished"]
    for r in mig:
        if r["event"] in ("migrate_started", "migrate_finished", "migrate_refused",
                          "migrate_gate_passed", "migrate_gate_override",
                          "migrate_nothing_to_do"):
            fields = {k: v for k, v in r.items()
                      if k not in ("seq", "ts", "event", "user", "host", "pid", "run_id")}
            doc.add(f"- {str(r.get('ts', ''))[:19].replace('T', ' ')} **{r['event']}**: "
                    + _cell(fields, 600))
    doc.add("")
    if files:
        doc.table(["File", "Status", "Took", "Ledger written"], [
            [r.get("file"), r.get("status"), _dur((r.get("duration_ms") or 0) / 1000),
             r.get("ledger_written")] for r in files])
    summaries = {(r.get("file"), r.get("statement")): r.get("summary") for r in mig
                 if r["event"] == "migrate_statement_started"}
    stmts = [{**r, "summary": r.get("summary") or r.get("error")
              or summaries.get((r.get("file"), r.get("statement")), "")}
             for r in mig if r["event"] in ("migrate_statement_finished",
                                            "migrate_statement_failed")]
    if stmts:
        doc.add(*_details(f"{len(stmts)} statement(s) run", [
            "| File | # | Status | Took | Statement |", "|---|---|---|---|---|",
            *[f"| {_cell(r.get('file'))} | {_cell(r.get('statement', r.get('index', '')))} | "
              f"{_cell(r.get('status', r['event'].rsplit('_', 1)[-1]))} | "
              f"{_dur((r.get('duration_ms') or 0) / 1000)} | {_cell(r.get('summary', ''), 100)} |"
              for r in stmts[:MAX_ROWS]]]))


def _verification(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    ver = [r for r in recs if r.get("event") == "verification"]
    if not ver:
        return
    v = ver[-1]
    doc.add("## Verification", "",
            f"Against {v.get('before_source')}; applied by this upgrade: "
            f"{', '.join(v.get('applied') or []) or 'none found'}; "
            f"{'passed' if v.get('ok') else 'FAILED'} in {_dur(v.get('duration_s'))}"
            + (f" (run {len(ver)} times in this session)" if len(ver) > 1 else "") + ".", "")
    doc.table(["Check", "Result", "Summary"], [
        [c.get("id"), STATE_MARK.get(str(c.get("status")), c.get("status")), c.get("summary")]
        for c in v.get("checks") or []])
    unexpected = v.get("unexpected") or []
    if unexpected:
        doc.add("Unexpected schema changes (not explained by the applied files):", "")
        doc.table(["Category", "Object", "Change"], [
            [u.get("category"), u.get("key"), u.get("change")] for u in unexpected])


def _rollback(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    rb = [r for r in recs if str(r.get("event", "")).startswith(("rollback_", "maintenance_"))]
    if not rb:
        return
    doc.add("## Rollback and maintenance", "")
    doc.table(["At (UTC)", "Event", "Details"], [
        [str(r.get("ts", ""))[:19].replace("T", " "), r["event"],
         {k: v for k, v in r.items() if k not in ("seq", "ts", "event", "user", "host", "pid")}]
        for r in rb])


UNANSWERED = " (UNANSWERED: the app closed on the question; the safe default was taken)"


def _decisions(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    rows = []
    for r in recs:
        e = r.get("event")
        if e == "override":
            rows.append([r.get("ts", "")[:19], r.get("user"), "override",
                         f"{r.get('step')} (gates: {', '.join(r.get('gates') or [])})",
                         r.get("reason")])
        elif e == "decision":
            rows.append([r.get("ts", "")[:19], r.get("user"), "decision", r.get("title"),
                         f"{r.get('answer')}" + (
                             UNANSWERED if r.get("unanswered") else
                             "" if r.get("asked") else " (default: nobody to ask)")])
        elif e in ("migrate_decision", "rollback_decision", "migrate_gate_override",
                   "migrate_confirmed_as_written", "maintenance_decision"):
            rows.append([r.get("ts", "")[:19], r.get("user"), e,
                         r.get("file") or r.get("choice") or r.get("job") or "",
                         (r.get("reason") or r.get("action") or r.get("answer") or "")
                         + (UNANSWERED if r.get("unanswered") else "")])
        elif e == "step" and r.get("state") == "skipped":
            rows.append([r.get("ts", "")[:19], r.get("user"), "skip", r.get("step"),
                         r.get("note")])
    doc.add("## Decisions and overrides", "")
    if rows:
        doc.table(["At (UTC)", "By", "Kind", "What", "Answer / reason"], rows)
    else:
        doc.add("None.", "")


def _commands(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    cmds = [r for r in recs if r.get("event") == "command_run"]
    if not cmds:
        return
    doc.add("## Commands run", "", "Passwords reach the tools through the environment, never "
            "the command line.", "")
    doc.add("```", *[f"{str(r.get('ts', ''))[:19]}  {' '.join(map(str, r.get('argv') or []))}"
                     f"  # {r.get('purpose', '')}" for r in cmds[:MAX_ROWS]], "```", "")


HANDLED = ("session_started", "checklist_opened", "step", "position", "override", "decision",
           "verification", "command_run")


def _other(doc: _Doc, recs: list[dict[str, Any]]) -> None:
    rest = [r for r in recs if r.get("event") not in HANDLED and not str(r.get("event", ""))
            .startswith(("backup_", "restore_", "migrate_", "plan", "lint", "rollback_",
                         "maintenance_", "verify_"))]
    if not rest:
        return
    doc.add("## Other journal events", "")
    doc.table(["At (UTC)", "Event", "Details"], [
        [str(r.get("ts", ""))[:19].replace("T", " "), r.get("event"),
         {k: v for k, v in r.items() if k not in ("seq", "ts", "event", "user", "host", "pid")}]
        for r in rest])


def build_report(session_dir: Path, secrets: Iterable[str] = (), *,
                 backup_dir: Path | None) -> str:
    j = Journal(session_dir / "journal.jsonl")
    recs = j.records()
    return render_report(recs, session_id=session_dir.name, damaged=len(j.damaged),
                         secrets=secrets, backup_dir=backup_dir)


def save_report(session_dir: Path, output: Path | None = None,
                secrets: Iterable[str] = (), *, backup_dir: Path | None) -> Path:
    """Write the report (default ``<session>/report.md``, 0600) atomically; return its path.
    The app calls this when a phase completes. ``backup_dir``: see ``render_report``."""
    text = build_report(session_dir, secrets, backup_dir=backup_dir)
    out = output or session_dir / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    return out
