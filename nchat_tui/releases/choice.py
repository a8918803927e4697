"""Which upgrade path a new session follows, from the files that are pending, and why.

The release whose migration files are pending is recognised by what the files create (their
DDL, ``Release.recognise``), never by version numbers. An upgrade found half done counts too:
pending files that are a release's by name, while the directory's applied and pending files
together create what that release's files create. When several releases' files are pending,
the one whose files run first is the upgrade to walk now.

With nothing recognised the choice says so: nothing pending is the no-schema-change path
(``expects_migrations = []``), as it always was also when the pending files are unknown (no
migrations directory); files pending that no release recognises, or that cannot be read, take
the path a release folder marks ``default_for_unrecognised``. A no-schema-change path is
never chosen beside pending files.
The operator's ``--upgrade-path`` always wins, and a session keeps the path it follows.

``path_mismatch`` is the same question asked of a path already followed: the home screen's
warning when the pending files are not that path's.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nchat_tui.errors import NchatError
from nchat_tui.migrate.discovery import discover
from nchat_tui.releases import registry
from nchat_tui.releases.release import Recognition, Release

if TYPE_CHECKING:
    from nchat_tui.migrate.ddl_effects import Effects
    from nchat_tui.migrate.status import Status

Files = tuple[tuple[str, str], ...]
"""Migration files as (name, text), in run order."""


@dataclass(frozen=True)
class PathChoice:
    path: str
    """The release id of the upgrade path (``v0.4.0``)."""
    how: str
    """``operator`` (--upgrade-path), ``session`` (the one it already follows),
    ``recognised``, ``nothing pending`` or ``default`` (no release recognised)."""
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=32)
def _effects(files: Files) -> Effects:
    from nchat_tui.migrate.ddl_effects import analyse_files  # noqa: PLC0415 - pglast (~3 MiB, 100 ms) only when files are read

    return analyse_files(list(files))


def _read(status: Status) -> tuple[Files, Files] | str:
    """(pending files, applied files of the directory), or why they cannot be read."""
    where = status.migrations_dir
    if not where:
        return "no migrations directory"
    try:
        disc = discover(Path(where))
        by_name = disc.by_name
        missing = [n for n in status.pending if n not in by_name]
        if missing:
            return f"{', '.join(missing[:3])} not found in {where}"
        applied = set(status.ledger.applied)
        return (tuple((n, by_name[n].text()) for n in status.pending),
                tuple((f.name, f.text()) for f in disc.files if f.name in applied))
    except (OSError, NchatError) as exc:
        return f"cannot read {where}: {exc}"


def recognise_pending(rel: Release, pending: Files, applied: Files) -> Recognition:
    """Whether the pending files are ``rel``'s: by what they create, or (an upgrade found half
    done) by name, with the applied files of the directory creating the rest."""
    rec = rel.recognise(_effects(pending), "pending")
    if rec.match or rel.signature is None:
        return rec
    named = [n for n, _ in pending if rel.signature.owns_name(n)]
    if not named:
        return rec
    whole = rel.recognise(_effects(applied + pending), "migration")
    if not whole.match:
        return rec
    verb = "is one of" if len(named) == 1 else "are"
    return Recognition(True, f"{', '.join(named)} {verb} {rel.id}'s files (by name), and "
                       f"{whole.reason}: the upgrade is part done", named)


def _default(why: str, rels: tuple[Release, ...]) -> PathChoice:
    marked = [r for r in rels if r.default_for_unrecognised]
    rel = (marked or [r for r in rels if r.schema_change] or list(rels))[0]
    return PathChoice(rel.id, "default", f"{why}; following {rel.id}, the path for an upgrade "
                      "no release folder recognises (--upgrade-path chooses another)")


def choose(status: Status | None) -> PathChoice:
    """The upgrade path for a new session on a target with this status (None: not reached)."""
    rels = registry.releases()
    if status is None:
        return _default("the target could not be reached: its pending migrations are unknown",
                        rels)
    pending = list(status.pending)
    if not pending:
        why = ("the pending migrations are unknown ("
               + (status.pending_unknown or "no migrations directory") + ")"
               if not status.pending_known else "nothing is pending")
        quiet = [r for r in rels if not r.schema_change]
        if not quiet:
            return _default(why, rels)
        others = [r.id for r in quiet[:-1]]
        return PathChoice(quiet[-1].id, "nothing pending",
                          f"{why}: {quiet[-1].id} changes no schema"
                          + (f" (so do {', '.join(others)})" if others else ""))
    files = _read(status)
    if isinstance(files, str):
        return _default(f"the pending files cannot be read ({files})", rels)
    found: list[tuple[int, Release, Recognition]] = []
    misses: list[str] = []
    order = {n: i for i, (n, _) in enumerate(files[0])}
    for rel in rels:
        if rel.signature is None:
            continue
        rec = recognise_pending(rel, *files)
        if rec.match:
            found.append((min(order.get(f, len(order)) for f in rec.files), rel, rec))
        else:
            misses.append(f"{rel.id}: {rec.reason}")
    if not found:
        names = ", ".join(pending[:4]) + (" ..." if len(pending) > 4 else "")
        return _default(f"no release folder recognises the pending files ({names})"
                        + (f" [{'; '.join(misses)}]" if misses else ""), rels)
    found.sort(key=lambda t: t[0])
    _, rel, rec = found[0]
    later = [f"{r.id} ({', '.join(x.files[:3])})" for _, r, x in found[1:]]
    return PathChoice(rel.id, "recognised", rec.reason + (
        f"; also pending, to walk after this one: {', '.join(later)}" if later else ""))


def path_mismatch(status: Status, path_id: str) -> str | None:
    """A warning when the pending files are not the followed path's (None: they are, or
    nothing says otherwise: no files pending, or they cannot be read)."""
    rel = registry.find(path_id)
    pending = status.pending
    if rel is None or not pending or not status.pending_known:
        return None
    if not rel.schema_change:
        return (f"The upgrade path {rel.id} expects no schema change, but {len(pending)} "
                "file(s) are pending: is this the right path? (start a new session with "
                "--upgrade-path to switch)")
    if rel.signature is None:
        return None
    files = _read(status)
    if isinstance(files, str):
        return None
    rec = recognise_pending(rel, *files)
    if rec.match:
        return None
    theirs = next((r.id for r in registry.releases() if r is not rel and r.signature
                   and recognise_pending(r, *files).match), None)
    return (f"None of the pending files is one the upgrade path {rel.id} expects "
            f"({rec.reason}): is this the right path?"
            + (f" They are {theirs}'s: start a new session with --upgrade-path {theirs}."
               if theirs else ""))


__all__ = ["PathChoice", "choose", "path_mismatch", "recognise_pending"]
