"""The releases the tool knows: every release folder it finds, with no list to edit.

Where it looks, in this order:

1. the package's own folders, ``nchat_tui/releases/<name>/`` (``v0_4_0``, ``v0_8_0``, ...);
2. the folders named by ``NCHAT_TUI_RELEASES`` (separated like ``PATH``), each a release folder
   itself or a folder of release folders.

A release folder is a folder with a ``checklist.toml``; its ``checks.py`` and
``troubleshoot.py`` are optional (``release.Release``). Folders are read in natural name order
(``v0_9_0`` before ``v0_10_0``), the package's first; two folders may not claim one id.

Why an environment variable for extra folders, rather than copying a folder into the installed
package: the installed package may not be writable, and ``pip install`` replaces it on every
upgrade, so a site's own release folder would be lost; and a test teaches the tool a release
without writing into the tree under test (other runs share it). A folder named there is trusted
like a ``PYTHONPATH`` entry: its Python parts are imported.

Engines ask here, never name a release: the checklist loader (``find``), the path choice
(``releases.choice``), the verification (``run_checks``, ``check_ids``), the maintenance's
cleanup jobs (``cleanup_jobs``) and the troubleshooting trees (``trees``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nchat_tui.releases.release import (
    CHECKLIST,
    Add,
    Release,
    ReleaseError,
    cleanup_from,
    signature_from,
)

if TYPE_CHECKING:
    import psycopg

    from nchat_tui.migrate.ddl_effects import Effects
    from nchat_tui.monitor.troubleshoot import Tree

ENV = "NCHAT_TUI_RELEASES"
PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = __name__.rsplit(".", 1)[0]


def _natural(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def _release_folders(parent: Path) -> list[Path]:
    return sorted((d for d in parent.iterdir() if (d / CHECKLIST).is_file()), key=_natural)


def _read(folder: Path, package: str) -> Release:
    where = folder / CHECKLIST
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"{where} is not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ReleaseError(f"{where} is not UTF-8 text") from None
    meta = data.get("meta")
    if not isinstance(meta, dict) or not meta.get("id") or not meta.get("title"):
        raise ReleaseError(f"{where}: [meta] needs an id and a title")
    return Release(
        id=str(meta["id"]), title=str(meta["title"]), folder=folder, package=package,
        from_version=str(meta.get("from_version", "")),
        to_version=str(meta.get("to_version", "")),
        default_for_unrecognised=bool(meta.get("default_for_unrecognised", False)),
        signature=signature_from(data, where), cleanup=cleanup_from(data, where))


def _outside_package(folder: Path) -> str:
    """An import name of its own for a folder outside the package (two folders with the same
    name in different places never share one)."""
    tag = re.sub(r"\W", "_", folder.name)
    return f"nchat_tui_release_{tag}_{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}"


@functools.cache
def _discover(extra: str) -> tuple[Release, ...]:
    found = [_read(d, f"{PACKAGE}.{d.name}") for d in _release_folders(PACKAGE_DIR)]
    for entry in filter(None, extra.split(os.pathsep)):
        p = Path(entry).expanduser().resolve()
        if not p.is_dir():
            raise ReleaseError(f"{ENV} names {p}, which is not a folder",
                               f"unset {ENV} or point it at a release folder")
        folders = [p] if (p / CHECKLIST).is_file() else _release_folders(p)
        if not folders:
            raise ReleaseError(f"{ENV} names {p}, which holds no release folder (a folder "
                               f"with a {CHECKLIST})")
        found += [_read(d, _outside_package(d)) for d in folders]
    seen: dict[str, Path] = {}
    for r in found:
        if r.id in seen:
            raise ReleaseError(f"two release folders claim {r.id}: {seen[r.id]} and {r.folder}",
                               f"remove one (or give it another id in its {CHECKLIST})")
        seen[r.id] = r.folder
    return tuple(found)


def releases() -> tuple[Release, ...]:
    """Every release folder found, in search order (read once per ``NCHAT_TUI_RELEASES``)."""
    return _discover(os.environ.get(ENV, ""))


def ids() -> list[str]:
    return [r.id for r in releases()]


def known_ids() -> str:
    """The release ids for a help text ("v0.4.0 or v0.8.0"). Never raises: a release folder
    that cannot be read is reported when a command uses it, not while its options are built."""
    try:
        found = ids()
    except ReleaseError:
        return "a release folder's id"
    return " or ".join(found) if len(found) < 3 else ", ".join(found[:-1]) + " or " + found[-1]


def find(release_id: str) -> Release | None:
    return next((r for r in releases() if r.id == release_id), None)


def get(release_id: str) -> Release:
    rel = find(release_id)
    if rel is None:
        raise ReleaseError(f"no release {release_id!r} (known: {', '.join(ids())})")
    return rel


# -- verification ------------------------------------------------------------------------------
def check_ids(step: str) -> tuple[str, ...]:
    """The ids of every release's own checks that belong to a verification step (``schema``
    or ``data``): the checklist's verify steps report them with their own."""
    out: list[str] = []
    for rel in releases():
        checks = rel.checks()
        if checks is not None:
            out += [cid for cid, st in checks.CHECKS.items() if st == step]
    return tuple(out)


def run_checks(conn: psycopg.Connection[Any], before: dict[str, Any],
               diff: dict[str, dict[str, Any]], add: Add, eff: Effects,
               say: Callable[[str, float | None], None]) -> tuple[dict[str, Any], str | None]:
    """Every release's own checks: run when the applied files (``eff``) are recognised as that
    release's, else each recorded as skipped with the reason. Returns what the report says
    about it (the recognised release, else the one the files came closest to) and the version
    the recognised release's application reports (None: none recognised)."""
    summary: dict[str, Any] = {}
    version: str | None = None
    best = -1
    for rel in releases():
        checks = rel.checks()
        if checks is None:
            continue
        why = rel.recognise(eff)
        if why.match:
            say(f"the {rel.id} guide's integrity checks", 0.85)
            checks.run(conn, before, diff, add, why)
            summary, version, best = {"release": rel.to_version, **why.as_dict()}, \
                rel.to_version or None, sys.maxsize
            continue
        for cid in checks.CHECKS:
            add(cid, "skipped", f"not the {rel.id} upgrade: {why.reason}",
                recognition=why.as_dict())
        if len(why.files) > best:
            summary, best = {"release": rel.to_version, **why.as_dict()}, len(why.files)
    return summary, version


# -- maintenance -------------------------------------------------------------------------------
def cleanup_jobs() -> dict[str, dict[str, str]]:
    """Every release's cleanup jobs by name, in search order (``release``: its id)."""
    out: dict[str, dict[str, str]] = {}
    for rel in releases():
        for job, spec in rel.cleanup.items():
            if job in out:
                raise ReleaseError(f"{rel.folder}: a cleanup job named {job!r} exists already "
                                   f"({out[job]['release']})")
            out[job] = {**spec, "release": rel.id}
    return out


# -- troubleshooting ---------------------------------------------------------------------------
def trees() -> list[tuple[Release, Tree]]:
    """Every release's troubleshooting trees, in search order."""
    return [(rel, tree) for rel in releases() for tree in rel.trees()]


__all__ = ["ENV", "PACKAGE_DIR", "check_ids", "cleanup_jobs", "find", "get", "ids", "known_ids",
           "releases", "run_checks", "trees"]
