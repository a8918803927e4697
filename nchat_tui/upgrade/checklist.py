"""The checklist engine: upgrade paths made of phases of steps, their states, gates and overrides.

An upgrade path is data (each release folder's ``checklist.toml``, found by
``releases.registry``), never a code path. A step is
automated (an action in ``actions.py`` reports ok / warn / failed with evidence) or manual (the
operator confirms, optionally with a note). A step may be gated by others; an override needs a
typed reason. All state lives in the session journal: the checklist is rebuilt by replaying it,
so a restart after ``kill -9`` or a dropped SSH session resumes exactly where it stood.

Steps also say what their truth rests on, so the screen never shows a stale tick:
``depends_on`` (when that step runs again or is reopened, this one is reopened: its result was
drawn from the old one), ``undoes`` (a rollback step that took the database back reopens the
steps whose effect it removed, and their dependants) and ``follows`` (skipping the step followed,
say maintenance mode on, skips this one, maintenance mode off). Every such change is journaled
as an ordinary step record, so a replay shows the same.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nchat_tui.releases import registry
from nchat_tui.state.journal import Journal

PENDING, RUNNING, OK, WARN, FAILED, SKIPPED, INTERRUPTED = (
    "pending", "running", "ok", "warn", "failed", "skipped", "interrupted")
STATES = (PENDING, RUNNING, OK, WARN, FAILED, SKIPPED, INTERRUPTED)
DONE_STATES = (OK, WARN, SKIPPED)
RESULT_STATES = (OK, WARN, FAILED)


class ChecklistError(ValueError):
    """A step cannot change that way (unknown step, gate closed, bad transition)."""


@dataclass(frozen=True)
class StepDef:
    """One step as the upgrade path declares it. ``key`` is ``phase.step``."""

    phase: str
    id: str
    title: str
    kind: str  # "auto" | "manual"
    guide: str = ""
    action: str | None = None
    gated_by: tuple[str, ...] = ()
    guide_differs: str | None = None
    optional: bool = False
    depends_on: tuple[str, ...] = ()
    """Steps whose result this one was drawn from: re-running one of them reopens this."""
    undoes: tuple[str, ...] = ()
    """Steps whose effect this one removes when its result says it ``reverted`` (a rollback)."""
    follows: str | None = None
    """A step that only makes sense after that one: skipping that one skips this."""

    @property
    def key(self) -> str:
        return f"{self.phase}.{self.id}"


@dataclass(frozen=True)
class PhaseDef:
    id: str
    title: str
    steps: tuple[StepDef, ...]


@dataclass(frozen=True)
class UpgradePath:
    id: str
    title: str
    from_version: str
    to_version: str
    sources: tuple[str, ...]
    expects_migrations: tuple[str, ...]
    phases: tuple[PhaseDef, ...]

    def step(self, key: str) -> StepDef:
        for ph in self.phases:
            for st in ph.steps:
                if st.key == key:
                    return st
        raise ChecklistError(f"no step {key!r} in upgrade path {self.id}")

    def steps(self) -> Iterable[StepDef]:
        for ph in self.phases:
            yield from ph.steps

    def phase(self, phase_id: str) -> PhaseDef:
        for ph in self.phases:
            if ph.id == phase_id:
                return ph
        raise ChecklistError(f"no phase {phase_id!r} in upgrade path {self.id}")


def _keys(ph: dict[str, Any], st: dict[str, Any], field_name: str) -> tuple[str, ...]:
    """A step's references to other steps (``id`` within its phase, or ``phase.id``)."""
    return tuple(g if "." in g else f"{ph['id']}.{g}" for g in st.get(field_name, []))


def load_path(source: str | Path) -> UpgradePath:
    """Load an upgrade path by its release's id (``"v0.4.0"``) or from a TOML file; validate
    its gates."""
    p = Path(source)
    if p.suffix != ".toml":
        rel = registry.find(str(source))
        if rel is None:
            raise ChecklistError(f"no upgrade path {source!r} (known: "
                                 f"{', '.join(known_paths())})")
        p = rel.checklist
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChecklistError(f"no upgrade path {source!r} (known: {', '.join(known_paths())})") \
            from None
    meta = data["meta"]
    phases: list[PhaseDef] = []
    for ph in data["phase"]:
        steps = []
        for st in ph["step"]:
            kind = st.get("kind", "manual")
            if kind not in ("auto", "manual"):
                raise ChecklistError(f"{ph['id']}.{st['id']}: kind must be auto or manual")
            if kind == "auto" and not st.get("action"):
                raise ChecklistError(f"{ph['id']}.{st['id']}: an auto step needs an action")
            follows = st.get("follows")
            steps.append(StepDef(
                phase=ph["id"], id=st["id"], title=st["title"], kind=kind,
                guide=st.get("guide", "").strip(), action=st.get("action"),
                gated_by=_keys(ph, st, "gated_by"),
                guide_differs=(st.get("guide_differs") or "").strip() or None,
                optional=bool(st.get("optional", False)),
                depends_on=_keys(ph, st, "depends_on"), undoes=_keys(ph, st, "undoes"),
                follows=(follows if "." in follows else f"{ph['id']}.{follows}") if follows
                else None))
        phases.append(PhaseDef(ph["id"], ph["title"], tuple(steps)))
    path = UpgradePath(meta["id"], meta["title"], meta.get("from_version", ""),
                       meta.get("to_version", ""), tuple(meta.get("sources", [])),
                       tuple(meta.get("expects_migrations", [])), tuple(phases))
    keys = {s.key for s in path.steps()}
    for s in path.steps():
        for what, refs in (("gated by", s.gated_by), ("depends on", s.depends_on),
                           ("undoes", s.undoes), ("follows", (s.follows,) if s.follows else ())):
            for g in refs:
                if g not in keys:
                    raise ChecklistError(f"{s.key} {what} unknown step {g}")
    return path


def known_paths() -> list[str]:
    """The upgrade paths of every release folder found, in the registry's order."""
    return registry.ids()


@dataclass
class StepState:
    """What the journal says about one step."""

    state: str = PENDING
    summary: str = ""
    evidence: Any = None
    note: str | None = None
    at: str | None = None
    by: str | None = None
    override_reason: str | None = None
    runs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StepResult:
    """What an automated action reports."""

    status: str  # ok | warn | failed
    summary: str
    evidence: Any = None
    reverted: bool = False
    """The action took the database back (a rollback): the step's ``undoes`` no longer hold."""

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATES:
            raise ValueError(f"bad result status {self.status!r}")


class Checklist:
    """An upgrade path's live state, replayed from and written to a journal."""

    def __init__(self, path: UpgradePath, journal: Journal) -> None:
        self.path = path
        self.journal = journal
        self.states: dict[str, StepState] = {s.key: StepState() for s in path.steps()}
        self.position: str | None = None
        self.resumed_from: str | None = None
        self._replay()

    # -- replay -----------------------------------------------------------------------------
    def _replay(self) -> None:
        records = self.journal.records()
        opened = [r for r in records if r.get("event") == "checklist_opened"]
        if opened and opened[-1].get("path") != self.path.id:
            raise ChecklistError(
                f"this session follows upgrade path {opened[-1].get('path')}, not {self.path.id}; "
                "start a new session to switch")
        for r in records:
            key = r.get("step")
            if r.get("event") == "position" and key in self.states:
                self.position = key
            if key not in self.states or r.get("event") != "step":
                continue
            st = self.states[key]
            st.state = r["state"]
            st.at, st.by = r.get("ts"), r.get("user")
            if r["state"] == RUNNING:
                st.runs += 1
                st.summary, st.evidence = "running", None
            else:
                st.summary = r.get("summary", "")
                st.evidence = r.get("evidence")
                st.note = r.get("note")
            if r.get("override_reason"):
                st.override_reason = r["override_reason"]
            st.history.append({k: r.get(k) for k in ("ts", "state", "summary", "user", "note",
                                                      "override_reason")})
        for key, st in self.states.items():
            if st.state == RUNNING:  # the process died while it ran
                st.state = INTERRUPTED
                st.summary = f"interrupted: the session stopped while this step ran (since {st.at})"
                self.journal.append("step", step=key, state=INTERRUPTED, summary=st.summary)
        if records:
            self.resumed_from = self.position
        if not opened:
            self.journal.append("checklist_opened", path=self.path.id, title=self.path.title)

    # -- queries ----------------------------------------------------------------------------
    def state(self, key: str) -> StepState:
        if key not in self.states:
            raise ChecklistError(f"unknown step {key!r}")
        return self.states[key]

    def open_gates(self, key: str) -> list[str]:
        """Gates of ``key`` that are not satisfied (a gate holds when its step is ok or warn)."""
        st = self.path.step(key)
        return [g for g in st.gated_by if self.states[g].state not in (OK, WARN)]

    def is_blocked(self, key: str) -> bool:
        return bool(self.open_gates(key)) and not self.states[key].override_reason

    def phase_progress(self, phase_id: str) -> tuple[int, int]:
        steps = self.path.phase(phase_id).steps
        done = sum(1 for s in steps if self.states[s.key].state in DONE_STATES)
        return done, len(steps)

    def dependants(self, keys: Iterable[str]) -> list[str]:
        """Every step that depends on ``keys``, directly or through others, in path order."""
        found: set[str] = set()
        todo = list(keys)
        while todo:
            k = todo.pop()
            for s in self.path.steps():
                if k in s.depends_on and s.key not in found:
                    found.add(s.key)
                    todo.append(s.key)
        return [s.key for s in self.path.steps() if s.key in found]

    def next_step(self, phase_id: str) -> str | None:
        """The first step of the phase not yet done (where a resumed session should land)."""
        for s in self.path.phase(phase_id).steps:
            if self.states[s.key].state not in DONE_STATES:
                return s.key
        return None

    def resume_point(self) -> tuple[str, str]:
        """(phase, step) to show on start: the last position, else the first open step."""
        if self.position:
            return self.position.split(".", 1)[0], self.position
        for ph in self.path.phases:
            nxt = self.next_step(ph.id)
            if nxt:
                return ph.id, nxt
        last = self.path.phases[-1]
        return last.id, last.steps[-1].key

    # -- changes ----------------------------------------------------------------------------
    def _check_gate(self, key: str) -> None:
        gates = self.open_gates(key)
        if gates and not self.states[key].override_reason:
            titles = ", ".join(self.path.step(g).title for g in gates)
            raise ChecklistError(f"gated: first complete {titles} (or override with a reason)")

    def _record(self, key: str, state: str, summary: str, **extra: Any) -> StepState:
        rec = self.journal.append("step", step=key, state=state, summary=summary, **extra)
        st = self.states[key]
        st.state, st.summary, st.at, st.by = state, summary, rec["ts"], rec["user"]
        if state == RUNNING:
            st.runs += 1
            st.evidence = None
        if "evidence" in extra:
            st.evidence = extra["evidence"]
        if "note" in extra:
            st.note = extra["note"]
        if extra.get("override_reason"):
            st.override_reason = extra["override_reason"]
        st.history.append({"ts": rec["ts"], "state": state, "summary": summary,
                           "user": rec["user"], "note": extra.get("note"),
                           "override_reason": extra.get("override_reason")})
        return st

    def _reopen(self, keys: Iterable[str], summary: str) -> list[str]:
        """Reopen the steps among ``keys`` that hold a result (done, warned, failed or
        interrupted; a running or skipped step is left alone). Returns the reopened keys."""
        out = []
        for k in keys:
            if self.states[k].state in (OK, WARN, FAILED, INTERRUPTED):
                self._record(k, PENDING, summary, evidence=None)
                out.append(k)
        return out

    def _reopen_dependants(self, key: str, why: str) -> list[str]:
        title = self.path.step(key).title
        return self._reopen(self.dependants([key]),
                            f"reopened: it relied on '{title}', which {why}")

    def start(self, key: str) -> StepState:
        """Mark an automated step running (journaled before the action starts). The steps
        whose result was drawn from its previous run are reopened first."""
        step = self.path.step(key)
        if step.kind != "auto":
            raise ChecklistError(f"{step.title} is a manual step: confirm it instead")
        if self.states[key].state == RUNNING:
            raise ChecklistError(f"{step.title} is already running")
        self._check_gate(key)
        self._reopen_dependants(key, "runs again")
        return self._record(key, RUNNING, "running")

    def finish(self, key: str, result: StepResult) -> StepState:
        if self.states[key].state != RUNNING:
            raise ChecklistError(f"{key} is not running")
        st = self._record(key, result.status, result.summary, evidence=result.evidence)
        step = self.path.step(key)
        if result.reverted and result.status in (OK, WARN) and step.undoes:
            when = (st.at or "")[:19].replace("T", " ")
            self._reopen([*step.undoes, *self.dependants(step.undoes)],
                         f"rolled back by '{step.title}' at {when} UTC: this no longer holds")
        return st

    def confirm(self, key: str, note: str | None = None) -> StepState:
        """The operator confirms a manual step (optionally with a note)."""
        step = self.path.step(key)
        if step.kind != "manual":
            raise ChecklistError(f"{step.title} is automated: run it (enter)")
        self._check_gate(key)
        return self._record(key, OK, "confirmed by the operator", note=note or None)

    def skip(self, key: str, reason: str) -> StepState:
        step = self.path.step(key)
        if not reason.strip():
            raise ChecklistError("skipping needs a reason")
        if not step.optional and step.kind == "auto":
            raise ChecklistError(f"{step.title} is required: it can be overridden, not skipped")
        st = self._record(key, SKIPPED, f"skipped: {reason.strip()}", note=reason.strip())
        for s in self.path.steps():  # what only follows a skipped step is skipped with it
            if s.follows == key and self.states[s.key].state == PENDING:
                self._record(s.key, SKIPPED, f"skipped: not needed, '{step.title}' was skipped",
                             note=f"follows '{step.title}', which was skipped")
        return st

    def override(self, key: str, reason: str) -> StepState:
        """Open a closed gate for ``key``; the typed reason is journaled."""
        reason = reason.strip()
        if len(reason) < 8:
            raise ChecklistError("an override needs a real reason (at least 8 characters)")
        gates = self.open_gates(key)
        if not gates:
            raise ChecklistError("nothing to override: the step's gates are open")
        st = self.states[key]
        self.journal.append("override", step=key, gates=gates, reason=reason)
        return self._record(key, st.state if st.state != RUNNING else PENDING,
                            f"gate overridden: {reason}", override_reason=reason,
                            evidence=st.evidence)

    def reset(self, key: str, reason: str) -> StepState:
        """Reopen a done step (for example to re-run a check), and the steps that relied on it
        (by ``depends_on``, or by ``follows`` when they were skipped along with it)."""
        title = self.path.step(key).title
        st = self._record(key, PENDING, f"reopened: {reason}", evidence=None)
        self._reopen_dependants(key, "was reopened")
        for s in self.path.steps():
            if s.follows == key and self.states[s.key].state == SKIPPED \
                    and "was skipped" in self.states[s.key].summary:
                self._record(s.key, PENDING, f"reopened with '{title}'", evidence=None)
        return st

    def set_position(self, key: str) -> None:
        if key in self.states and key != self.position:
            self.position = key
            self.journal.append("position", step=key)
