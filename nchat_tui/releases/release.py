"""One nChat release as the tool knows it: a folder read as data (see ``releases/__init__``).

A ``Release`` is what an engine may ask about a release, never a code path of its own:

- ``id``, ``title``, ``to_version``: from the ``[meta]`` of its ``checklist.toml`` (``id`` is the
  upgrade path's name, as ``--upgrade-path`` and the journal spell it);
- ``checklist``: that file, whose ``[[phase]]`` steps ``upgrade.checklist`` loads (each step's
  ``guide_differs`` is where the release's guide contradicts the real nChat/nself);
- ``recognise(effects)``: whether migration files are this release's, and why, by what their
  DDL creates (``[recognise]``), never by their version numbers: real nChat's
  ``00013_billing_and_subscriptions.sql`` is version 13 and creates billing tables;
- ``expects_migrations`` (its files by name without the version prefix; ``[]``: no schema
  change, the path followed when nothing is pending) and ``default_for_unrecognised`` (the
  path followed when no release recognises the pending files);
- ``checks()``: the verification checks of its guide (``checks.py`` in the folder:
  ``ReleaseChecks``), run only when the applied files are recognised as the release's;
- ``cleanup``: its guide's cleanup jobs (``[cleanup.<job>]``), which ``maintain`` offers;
- ``trees()``: its troubleshooting trees (``troubleshoot.py``: ``TREES``, built on
  ``monitor.troubleshoot``'s ``Tree`` and registered ``check`` functions).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

from nchat_tui.errors import BadInput
from nchat_tui.migrate.discovery import UP_NAME

if TYPE_CHECKING:
    import psycopg

    from nchat_tui.migrate.ddl_effects import Effects
    from nchat_tui.monitor.troubleshoot import Tree

CHECKLIST = "checklist.toml"
"""The file that makes a folder a release folder."""
VERIFY_STEPS = ("schema", "data")
"""The verification steps of a checklist (``verify_schema``, ``verify_data``) a release check
belongs to."""


class ReleaseError(BadInput):
    """A release folder that cannot be read as one (exit 2: the folder is the bad input)."""


@dataclass
class Recognition:
    """Whether some migration files are a release's, and why (or why not)."""

    match: bool
    reason: str
    files: list[str] = field(default_factory=list)
    """The files that make the match: those that create the release's objects (or, for an
    upgrade found half done, its pending files known by name)."""
    missing: list[str] = field(default_factory=list)
    """The release's objects none of the files creates."""

    def as_dict(self) -> dict[str, Any]:
        """As the verification's JSON has always shown it (``applied``: the release's own checks
        apply to these files)."""
        return {"applied": self.match, "reason": self.reason, "files": list(self.files),
                "missing": list(self.missing)}


@dataclass(frozen=True)
class Signature:
    """How a release's migration files are known: by what they create (``creates``: objkeys
    keys per ``ddl_effects`` category) and by name without the version prefix (``files``)."""

    creates: Mapping[str, tuple[str, ...]]
    files: tuple[str, ...] = ()
    what: str = "objects its migrations create"
    """Said when the files are recognised: "X creates the v0.4.0 <what>"."""
    objects: str = "objects"
    """Said when they are not: "the files create none of the v0.4.0 <objects>"."""

    def owns_name(self, file_name: str) -> bool:
        """Whether ``file_name`` (``015_voice_calls.sql``) is one of the release's by name."""
        m = UP_NAME.match(file_name)
        return m is not None and m.group("stem") in self.files

    def recognise(self, release_id: str, eff: Effects, which: str) -> Recognition:
        found: dict[str, str] = {}
        missing: list[str] = []
        for cat, keys in self.creates.items():
            for k in keys:
                file = eff.creates.get(cat, {}).get(k)
                if file:
                    found[k] = file
                else:
                    missing.append(k)
        files = sorted(set(found.values()))
        if not eff.files:
            return Recognition(False, "nothing is pending" if which == "pending"
                               else f"no migration file was {which} by this upgrade")
        if not missing:
            verb = "creates" if len(files) == 1 else "create"
            return Recognition(True, f"{', '.join(files)} {verb} the {release_id} {self.what}",
                               files)
        if not found:
            return Recognition(False, f"the {which} files ({', '.join(eff.files[:5])}"
                               + (" ..." if len(eff.files) > 5 else "") + f") create none of "
                               f"the {release_id} {self.objects}: not that release's migrations",
                               [], missing)
        return Recognition(False, f"the {which} files create only part of the {release_id} "
                           f"{self.objects} ({len(found)} of {len(found) + len(missing)}; "
                           f"missing {', '.join(missing[:4])}"
                           + (" ..." if len(missing) > 4 else "")
                           + "): not that release's full migration", files, missing)


Add = Callable[..., Any]
"""``add(check_id, status, summary, **evidence)``: records one verification check."""


class ReleaseChecks(Protocol):
    """What a release folder's ``checks.py`` provides (a module satisfies it)."""

    CHECKS: Mapping[str, str]
    """Each check id and the verification step it belongs to (``schema`` or ``data``)."""

    def run(self, conn: psycopg.Connection[Any], before: dict[str, Any],
            diff: dict[str, dict[str, Any]], add: Add, why: Recognition) -> None:
        """The release's checks against the live database (``before``: the snapshot taken
        before the upgrade, ``diff``: the schema's changes since), each recorded by ``add``."""


@dataclass(frozen=True)
class Release:
    """One release folder (see the module's docstring)."""

    id: str
    title: str
    folder: Path
    package: str
    """The import name of the folder's Python parts (``nchat_tui.releases.v0_4_0``)."""
    from_version: str = ""
    to_version: str = ""
    default_for_unrecognised: bool = False
    signature: Signature | None = None
    """How its migration files are known (None: it has none, ``expects_migrations = []``)."""
    cleanup: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)
    """Its guide's cleanup jobs by name (``[cleanup.<job>]``: title, table, column, and the
    count and delete statements' names under ``sql/``), for ``maintain --cleanup``."""

    @property
    def schema_change(self) -> bool:
        """Whether the release has migration files (false: followed when nothing is pending)."""
        return self.signature is not None

    @property
    def checklist(self) -> Path:
        return self.folder / CHECKLIST

    def recognise(self, eff: Effects, which: str = "applied") -> Recognition:
        """Whether the files ``eff`` was read from are this release's (``which``: "applied"
        or "pending", for the wording)."""
        if self.signature is None:
            return Recognition(False, f"{self.id} has no migration files (expects_migrations "
                               "is empty in its checklist.toml)")
        return self.signature.recognise(self.id, eff, which)

    def _part(self, name: str) -> ModuleType | None:
        """The folder's ``<name>.py`` imported (None when the folder has none)."""
        if not (self.folder / f"{name}.py").is_file():
            return None
        if self.package not in sys.modules and importlib.util.find_spec(self.package) is None:
            _register_package(self.package, self.folder)  # a folder outside the package
        return importlib.import_module(f"{self.package}.{name}")

    def checks(self) -> ReleaseChecks | None:
        mod = self._part("checks")
        if mod is None:
            return None
        steps = getattr(mod, "CHECKS", None)
        if not isinstance(steps, Mapping) or not callable(getattr(mod, "run", None)):
            raise ReleaseError(f"{self.folder / 'checks.py'} must define CHECKS (check id -> "
                               "verification step) and run(conn, before, diff, add, why)")
        bad = {cid: st for cid, st in steps.items() if st not in VERIFY_STEPS}
        if bad:
            raise ReleaseError(f"{self.folder / 'checks.py'}: checks {sorted(bad)} name no "
                               f"verification step ({' or '.join(VERIFY_STEPS)})")
        return cast(ReleaseChecks, mod)

    def trees(self) -> tuple[Tree, ...]:
        mod = self._part("troubleshoot")
        if mod is None:
            return ()
        trees = getattr(mod, "TREES", None)
        if not isinstance(trees, tuple):
            raise ReleaseError(f"{self.folder / 'troubleshoot.py'} must define TREES (a tuple "
                               "of troubleshooting trees)")
        return trees


def _register_package(name: str, folder: Path) -> None:
    """Make a release folder outside the package importable as ``name`` (its parts then import
    each other relatively, and ``import_module(name + ".checks")`` finds them in the folder)."""
    init = folder / "__init__.py"
    spec = (importlib.util.spec_from_file_location(name, init,
                                                   submodule_search_locations=[str(folder)])
            if init.is_file() else importlib.util.spec_from_loader(name, None, is_package=True))
    if spec is None:
        raise ReleaseError(f"cannot import the release folder {folder}")
    mod = importlib.util.module_from_spec(spec)
    mod.__path__ = [str(folder)]
    sys.modules[name] = mod
    if spec.loader is not None:
        spec.loader.exec_module(mod)


CLEANUP_KEYS = ("title", "table", "column", "count", "delete")


def cleanup_from(data: dict[str, Any], where: Path) -> dict[str, dict[str, str]]:
    """The ``[cleanup.<job>]`` tables of a checklist.toml, in their order."""
    jobs = data.get("cleanup") or {}
    out: dict[str, dict[str, str]] = {}
    for job, spec in jobs.items():
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) and spec[k]
                                                 for k in CLEANUP_KEYS):
            raise ReleaseError(f"{where}: [cleanup.{job}] needs {', '.join(CLEANUP_KEYS)}")
        out[str(job)] = {k: str(spec[k]) for k in CLEANUP_KEYS}
    return out


def expected_files(meta: dict[str, Any], where: Path) -> tuple[str, ...]:
    """``expects_migrations`` of a checklist.toml's ``[meta]``: the release's migration files by
    name without their version prefix (``e2ee_system`` for ``014_e2ee_system.sql``; ``[]``: the
    release changes no schema). A version number is refused: it says nothing about a file."""
    names = meta.get("expects_migrations")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ReleaseError(f"{where}: [meta] needs expects_migrations, the release's migration "
                           "files by name without their version prefix ([] for none)")
    numbers = [n for n in names if UP_NAME.match(n) or n.isdigit()]
    if numbers:
        raise ReleaseError(f"{where}: expects_migrations names files by version ({numbers}); "
                           "name them without their version prefix (014_e2ee_system.sql: "
                           "\"e2ee_system\"): a version number says nothing about a file")
    return tuple(names)


def signature_from(data: dict[str, Any], where: Path) -> Signature | None:
    """How the release's files are known: ``expects_migrations`` (by name) with the
    ``[recognise]`` table (by content); None for a release that changes no schema."""
    files = expected_files(data.get("meta") or {}, where)
    rec = data.get("recognise")
    if not files:
        if rec is not None:
            raise ReleaseError(f"{where}: [recognise] for a release whose expects_migrations "
                               "is empty (it changes no schema: nothing to recognise)")
        return None
    creates = (rec or {}).get("creates") or {}
    if not isinstance(creates, dict) or not creates:
        raise ReleaseError(f"{where}: [recognise.creates] names no object (tables = [...], "
                           "columns = [...]): the release's files could never be recognised")
    from nchat_tui.migrate.ddl_effects import CATEGORIES  # noqa: PLC0415 - pglast (~3 MiB, 100 ms) only for a recognition

    unknown = sorted(set(creates) - set(CATEGORIES))
    if unknown:
        raise ReleaseError(f"{where}: [recognise.creates] has unknown categories {unknown} "
                           f"(known: {', '.join(CATEGORIES)})")
    return Signature(
        creates={cat: tuple(str(k) for k in keys) for cat, keys in creates.items()},
        files=files,
        what=str(rec.get("what") or Signature.what) if rec else Signature.what,
        objects=str(rec.get("objects") or Signature.objects) if rec else Signature.objects)


__all__ = ["CHECKLIST", "VERIFY_STEPS", "Add", "Recognition", "Release", "ReleaseChecks",
           "ReleaseError", "Signature", "cleanup_from", "expected_files", "signature_from"]
