"""What a down rollback reverts, and what the database must look like after it.

After an upgrade the migration gate asks for a backup newer than the ledger, so the latest
verified backup is usually taken *after* the migration: it is no "before". The before-snapshot
of a down rollback is the one taken before the files it reverts were applied:

- the session journals (``state_dir/sessions/*/journal.jsonl`` of this target) know each up
  run, the files it ran and the backup its gate accepted: that backup's snapshot is the
  run's before-snapshot;
- without ``--to``, the down rollback reverts the last up run whose files are still applied
  (the latest applied file before that run is the target);
- with ``--to V``, every applied file after ``V`` is reverted, and the comparison point is the
  before-snapshot of the earliest run that applied one of them, plus what the files that stay
  applied (but are not in that snapshot) create, read from their DDL (``ddl_effects``);
- when the journals cannot tell (files applied by the nself CLI, a run with
  ``--without-backup``, a deleted manifest), the newest verified backup whose recorded ledger
  rows hold none of the reverted files (and nothing that is not applied now) is used, and the
  plan says so;
- an explicit ``--against MANIFEST`` is used as given, and refused when it records a file the
  down run would revert (it describes a later state).

"Nothing to do" is said only when no file is applied after the target, naming what was read.
No textual here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from nchat_tui.backup.engine import list_backups, manifest_path_for, read_manifest
from nchat_tui.errors import BadInput
from nchat_tui.migrate.ddl_effects import analyse_files
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger
from nchat_tui.pg.snapshot import database_identity, schema_inventory
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal
from nchat_tui.verify.engine import (
    applied_before,
    classify_diff,
    diff_inventory,
    diff_is_empty,
    expected_problems,
    load_before,
    snapshot_of,
)


@dataclass
class UpRun:
    """One up run of the migration runner, as a session journal recorded it."""

    run_id: str
    session: str
    started_at: str
    pid: int | None
    files: list[str]
    """The files the run set out to apply, in run order."""
    committed: list[str] = field(default_factory=list)
    """The files it journaled as committed (a kill can leave the last one out: the ledger is
    the truth for what is applied)."""
    backup: str | None = None
    """The backup its gate accepted (the file name, inside the backup directory)."""
    without_backup: str | None = None

    def describe(self) -> str:
        return f"run {self.run_id} (session {self.session}, started {self.started_at})"


def up_runs(target: Target) -> tuple[list[UpRun], int]:
    """Every up run in this target's session journals, oldest first, and how many sessions
    were read."""
    masked = target.masked()
    runs: list[UpRun] = []
    sessions = 0
    for path in Journal.list_sessions(target.state_dir):
        recs = Journal(path).records()
        if not any(r.get("event") == "session_started" and r.get("target") == masked
                   for r in recs[:5]):
            continue
        sessions += 1
        by_id: dict[str, UpRun] = {}
        gate_by_run: dict[str, dict[str, Any]] = {}
        gate_by_pid: dict[Any, dict[str, Any]] = {}
        for r in recs:
            ev, pid = r.get("event"), r.get("pid")
            if ev in ("migrate_gate_passed", "migrate_gate_override"):
                if r.get("run_id"):
                    gate_by_run[str(r["run_id"])] = r
                gate_by_pid[pid] = r
            elif ev == "migrate_started":
                rid = str(r.get("run_id") or "")
                gate = gate_by_run.get(rid) or gate_by_pid.pop(pid, None)
                if r.get("direction", "up") != "up" or not rid:
                    continue
                run = UpRun(rid, path.parent.name, str(r.get("ts") or ""), pid,
                            [str(f) for f in r.get("files") or []])
                if gate is not None:
                    if gate.get("event") == "migrate_gate_passed" and gate.get("backup"):
                        run.backup = Path(str(gate["backup"])).name
                    elif gate.get("event") == "migrate_gate_override":
                        run.without_backup = str(gate.get("reason") or "")
                by_id[rid] = run
                runs.append(run)
            elif ev in ("migrate_finished", "migrate_nothing_to_do", "migrate_refused_by_gate"):
                gate_by_pid.pop(pid, None)
            elif ev == "migrate_file_finished" and r.get("status") == "committed":
                run_ = by_id.get(str(r.get("run_id") or ""))
                if run_ is not None:
                    run_.committed.append(str(r.get("file")))
    runs.sort(key=lambda r: r.started_at)
    return runs, sessions


@dataclass
class DownPlan:
    to_version: str | None
    """What the runner reverts to (a file name, or "0" for everything); None: nothing to do."""
    revert: list[str] = field(default_factory=list)
    """The applied files the down run reverts, in run order."""
    before: dict[str, Any] | None = None
    """The snapshot to compare with afterwards."""
    source: str = ""
    """Where that snapshot came from (a manifest path, or "given snapshot")."""
    run: UpRun | None = None
    """The run whose before-snapshot it is (None when the journals could not tell)."""
    extra: list[str] = field(default_factory=list)
    """Files that stay applied but the snapshot does not record: their objects are expected
    on top of it."""
    reason: str = ""
    """How the snapshot and the files were chosen, in words."""
    nothing_to_do: str = ""
    """When there is nothing to revert: why, naming what was read."""
    migrations_dir: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("before", None)
        d["migrations_dir"] = str(self.migrations_dir) if self.migrations_dir else None
        return d


def _snapshot_applied(files: list[Any], snap: dict[str, Any]) -> set[str]:
    return applied_before(files, (snap.get("inventory") or {}).get("ledgers") or {})


def _manifest_snapshot(target: Target, name: str) -> tuple[dict[str, Any] | None, str]:
    """The snapshot in the manifest of backup ``name`` (a bare file name: only inside the
    backup directory)."""
    p = target.backup_dir / Path(name).name
    mpath = manifest_path_for(p)
    m = read_manifest(mpath)
    if not m or not isinstance(m.get("snapshot"), dict):
        return None, str(mpath)
    try:
        return snapshot_of(m), str(mpath)
    except BadInput:
        return None, str(mpath)


def _backup_snapshots(target: Target, conn: psycopg.Connection[Any]
                      ) -> list[tuple[dict[str, Any], str]]:
    """Snapshots of verified backups of this database, newest first."""
    ident = database_identity(conn)
    out = []
    for b in list_backups(target.backup_dir):
        m = b.manifest
        if b.state != "verified" or not m or not isinstance(m.get("snapshot"), dict):
            continue
        mdb = m["snapshot"].get("database") or {}
        if mdb.get("database") != ident["database"]:
            continue
        if mdb.get("system_identifier") and ident.get("system_identifier") \
                and mdb["system_identifier"] != ident["system_identifier"]:
            continue
        try:
            out.append((snapshot_of(m), str(b.manifest_path or b.path)))
        except BadInput:
            continue
    return out


@dataclass
class _Down:
    """What ``plan_down`` reads once: the files, the ledger's applied set, the backups (lazily)."""

    target: Target
    conn: psycopg.Connection[Any]
    mdir: Path
    disc: Any
    applied: list[Any]
    applied_names: set[str]
    snaps: list[tuple[dict[str, Any], str]] | None = None

    def made(self, plan: DownPlan) -> DownPlan:
        plan.migrations_dir = self.mdir
        return plan

    def keep_version(self, key: str) -> int:
        if key == "0":
            return 0
        f = self.disc.find(key)
        if f is not None:
            return f.version
        if key.isdigit():
            return int(key)
        raise BadInput(f"--to {key!r}: no migration file with that name or version")

    def recorded(self, snap: dict[str, Any]) -> set[str]:
        return _snapshot_applied(self.disc.files, snap)

    def finish(self, plan: DownPlan, keep: int) -> DownPlan:
        assert plan.before is not None
        recorded = self.recorded(plan.before)
        later = sorted(set(plan.revert) & recorded)
        if later:
            raise BadInput(f"the before-snapshot {plan.source} records {', '.join(later)} as "
                           "applied, which this down rollback reverts: it describes a later "
                           "state", "give the manifest of a backup taken before those files "
                           "ran, or leave --against out (the journal knows the run that "
                           "applied them)")
        plan.extra = [f.name for f in self.applied
                      if f.version <= keep and f.name not in recorded]
        return plan

    def backups(self) -> list[tuple[dict[str, Any], str]]:
        if self.snaps is None:
            self.snaps = _backup_snapshots(self.target, self.conn)
        return self.snaps

    def by_content(self, revert_names: set[str]) -> tuple[dict[str, Any], str] | None:
        """The newest verified backup recording none of ``revert_names`` and nothing that is
        not applied now."""
        for snap, src in self.backups():
            rec = self.recorded(snap)
            if not (rec & revert_names) and rec <= self.applied_names:
                return snap, src
        return None

    def state_name(self, recorded: set[str]) -> str:
        """The last file of a recorded applied set ("0": none)."""
        state = [f for f in self.disc.files if f.name in recorded]
        return state[-1].name if state else "0"


def plan_down(target: Target, conn: psycopg.Connection[Any], to_version: str | None = None,
              against: dict[str, Any] | Path | str | None = None) -> DownPlan:
    """Which files a down rollback reverts and what to compare with afterwards (module doc).

    Raises ``BadInput`` when there is no migrations directory, ``--to`` names no file, or no
    before-snapshot predates the files it would revert."""
    if target.migrations_dir is None or not Path(target.migrations_dir).is_dir():
        raise BadInput("no migrations directory: give --migrations DIR or --backend-dir DIR")
    mdir = Path(target.migrations_dir)
    disc = discover(mdir)
    ledger = detect_ledger(conn)
    applied = [f for f in disc.files if ledger.is_applied(f)]
    d = _Down(target, conn, mdir, disc, applied, {f.name for f in applied})
    if against is not None:
        return _plan_against(d, against, to_version)

    runs, sessions = up_runs(target)
    read = f"{sessions} session journal(s) of {target.masked()}"
    last_run: UpRun | None = None
    if to_version is None:
        last_run = next((r for r in reversed(runs) if set(r.files) & d.applied_names), None)
        if last_run is not None:
            mine = [f for f in applied if f.name in set(last_run.files)]
            first = min(f.version for f in mine)
            earlier = [f for f in applied if f not in mine and f.version < first]
            to_version = earlier[-1].name if earlier else "0"
        else:
            # No journaled run applied what is applied now: the newest backup that records an
            # earlier state (fewer applied files) is the way back.
            rec = next((r for r in (d.recorded(s) for s, _src in d.backups())
                        if r < d.applied_names), None)
            if rec is None:
                return d.made(DownPlan(None, nothing_to_do=(
                    f"no up run in {read} applied a file that is still applied, and no "
                    "verified backup of this database records an earlier migration state")))
            to_version = d.state_name(rec)
    keep = d.keep_version(to_version)
    revert = [f.name for f in applied if f.version > keep]
    if not revert:
        return d.made(DownPlan(None, nothing_to_do=(
            f"no file is applied after {to_version} (read {read}"
            + (f"; the last up run: {last_run.describe()}" if last_run else "") + ")")))
    plan = d.made(DownPlan(to_version, revert))
    return _with_before(d, plan, runs, read, keep)


def _plan_against(d: _Down, against: dict[str, Any] | Path | str,
                  to_version: str | None) -> DownPlan:
    """``--against MANIFEST``: the snapshot given is the before-snapshot."""
    before, source = load_before(d.target, against, d.conn)
    if to_version is None:
        to_version = d.state_name(d.recorded(before))
    keep = d.keep_version(to_version)
    revert = [f.name for f in d.applied if f.version > keep]
    plan = d.made(DownPlan(to_version if revert else None, revert, before, source,
                           reason=f"the before-snapshot given: {source}"))
    if not revert:
        plan.nothing_to_do = (f"no file is applied after {to_version} (the state the "
                              f"snapshot {source} records)")
        return plan
    return d.finish(plan, keep)


def _with_before(d: _Down, plan: DownPlan, runs: list[UpRun], read: str, keep: int) -> DownPlan:
    """The before-snapshot of the earliest run that applied a reverted file (its backup's
    manifest), else the newest verified backup that predates them all."""
    revert = plan.revert
    revert_set = set(revert)
    owners = [r for r in runs if set(r.files) & revert_set]
    notes: list[str] = []
    if owners:
        run = owners[0]  # the earliest: its snapshot predates every reverted file
        did = [f for f in revert if f in set(run.files)]
        if run.backup:
            msnap, src = _manifest_snapshot(d.target, run.backup)
            if msnap is not None and not (d.recorded(msnap) & revert_set):
                plan.before, plan.source, plan.run = msnap, src, run
                plan.reason = (f"the before-snapshot of {run.describe()}, which applied "
                               f"{', '.join(did)}: {src}")
                return d.finish(plan, keep)
            notes.append(f"{run.describe()} applied {', '.join(did)}, but its backup's "
                         f"manifest {src} is " + ("missing or has no snapshot" if msnap is None
                                                  else "of a later state"))
        elif run.without_backup is not None:
            notes.append(f"{run.describe()} applied {', '.join(did)} without a backup "
                         f"({run.without_backup!r})")
    else:
        notes.append(f"no up run in {read} applied {', '.join(revert)} (the nself CLI?)")
    hit = d.by_content(revert_set)
    if hit is None:
        raise BadInput("no before-snapshot for the files this down rollback reverts ("
                       + ", ".join(revert) + "): " + "; ".join(notes)
                       + "; and no verified backup records a state without them",
                       "give --against MANIFEST of a backup taken before they were applied")
    plan.before, plan.source = hit
    plan.reason = ("; ".join(notes) + f"; compared with the newest verified backup that "
                   f"predates them: {hit[1]}")
    return d.finish(plan, keep)


def check_after_down(plan: DownPlan, conn: psycopg.Connection[Any]
                     ) -> tuple[bool, dict[str, Any], bool, list[str]]:
    """After the down run: (inventory as expected, differences, ledger as expected, notes).

    Expected: the plan's snapshot, plus what the files that stay applied but are not in it
    create (``plan.extra``). Differences are shaped like ``diff_inventory``'s."""
    assert plan.before is not None and plan.migrations_dir is not None
    live = schema_inventory(conn)
    d = diff_inventory(plan.before["inventory"], live)
    disc = discover(plan.migrations_dir)
    ledger = detect_ledger(conn)
    applied_now = {f.name for f in disc.files if ledger.is_applied(f)}
    expected_applied = _snapshot_applied(disc.files, plan.before) | set(plan.extra)
    notes: list[str] = []
    ledger_ok = applied_now == expected_applied
    if not ledger_ok:
        notes.append("ledger: applied now " + ", ".join(sorted(applied_now - expected_applied))
                     + " not expected; missing " + ", ".join(sorted(expected_applied
                                                                    - applied_now)))
    if not plan.extra:
        return diff_is_empty(d), d, ledger_ok, notes
    by_name = {f.name: f for f in disc.files}
    eff = analyse_files([(n, by_name[n].text()) for n in plan.extra if n in by_name])
    _explained, unexpected = classify_diff(d, eff)
    problems = expected_problems(eff, live)
    out: dict[str, Any] = {}
    for u in unexpected:
        part = out.setdefault(u["category"], {"added": {}, "removed": {}, "changed": {}})
        part[u["change"]][u["key"]] = u.get("fields") or d[u["category"]][u["change"]][u["key"]]
    for p in problems:
        cat = p["category"]
        part = out.setdefault(cat, {"added": {}, "removed": {}, "changed": {}})
        if p["problem"] == "missing":
            part["removed"][p["key"]] = {"expected_from": p["file"]}
        elif p["problem"].startswith("still present"):
            part["added"][p["key"]] = {"dropped_by": p["file"]}
        else:
            part["changed"][p["key"]] = {"problem": p["problem"], "file": p["file"]}
    notes.append("expected: the before-snapshot plus what " + ", ".join(plan.extra)
                 + " create")
    return not out, out, ledger_ok, notes


__all__ = ["DownPlan", "UpRun", "check_after_down", "plan_down", "up_runs"]
