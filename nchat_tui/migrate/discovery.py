"""Migration files on disk: which ones there are, how they pair up, and the order to run them.

One flat folder holds three naming styles side by side (``003_x.sql``, ``0007_x.sql``,
``00013_x.sql``, ``YYYYMMDDHHMMSS_x.up.sql`` with its ``.down.sql``). The run order is the
NUMERIC value of the version prefix, so ``003`` < ``0007`` < ``00013`` < ``20260203070900``.
The nself CLI sorts by plain file name instead, which puts ``00013`` before ``003``: discovery
warns wherever the two orders differ, and about duplicate versions, orphan down files and names
that are not migrations. It only reads the folder: it never touches the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from nchat_tui.state.safeio import read_text_utf8

# <digits>_<rest>.sql, where rest may end in .up (the up half of an up/down pair).
UP_NAME = re.compile(r"^(?P<prefix>\d+)_(?P<stem>.+?)(?P<up>\.up)?\.sql$")
TIMESTAMP_DIGITS = 14
# Show at most this many order inversions in the warning; the rest are counted.
MAX_INVERSIONS_SHOWN = 4
# Header comments that state what a file needs first, as nChat's files write them
# ("-- Depends on: 20260203070910_imported_schema (nchat_messages table)", "-- Run after: ...",
# "-- Dependencies: Stripe plugin installed via nself CLI", "-- Requires: ...").
DEPENDENCY_LINE = re.compile(
    r"^\s*--+\s*(?P<label>depends\s+on|dependencies|dependency|run\s+after|must\s+run\s+after|"
    r"requires|prerequisites?|needs)\s*:\s*(?P<text>\S.*?)\s*$", re.I)
# A migration named inside such a line: a version prefix, optionally with its name.
MIGRATION_REF = re.compile(r"(?<![\w.])(?P<ref>\d{3,}(?:_[A-Za-z0-9_]+)?(?:\.up)?(?:\.sql)?)")


def _is_timestamp(prefix: str) -> bool:
    if len(prefix) != TIMESTAMP_DIGITS:
        return False
    try:
        dt.datetime.strptime(prefix, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class MigrationFile:
    """One up migration and, when there is one, its down file."""

    version: int
    """The numeric value of the prefix: the run order key."""
    prefix: str
    """The prefix as written: ``"013"``, ``"20260203070900"``."""
    name: str
    """The file's base name, as the Go CLI records it in ``np_common.schema_versions``."""
    path: Path
    down_path: Path | None
    style: str
    """``"numbered"`` or ``"timestamp"``."""

    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes (what the Go CLI stores in nself_ops.migrations)."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def ledger_id(self) -> str:
        """The Go CLI's ``nself_ops.migrations.id``: the file name without ``.sql`` (and a
        trailing ``.down``), unique per file. Older CLIs used the prefix before the first
        ``_`` (``legacy_ledger_id``), so files sharing a version prefix (``20260207_a.sql``,
        ``20260207_b.sql``) shared one row, and the second overwrote the first's."""
        return self.name.removesuffix(".sql").removesuffix(".down")

    @property
    def legacy_ledger_id(self) -> str:
        """The id older nself CLIs wrote: the prefix before the first ``_``."""
        return self.name.split("_", 1)[0]

    @property
    def title(self) -> str:
        """The name without prefix and suffix: ``e2ee_system``."""
        m = UP_NAME.match(self.name)
        return m.group("stem") if m else self.name

    def text(self) -> str:
        return read_text_utf8(self.path)

    def header_dependencies(self) -> list[dict[str, str]]:
        """What the file's header comment says it needs first (``Depends on:``, ``Run after:``,
        ``Dependencies:``, ``Requires:``...): ``[{"label", "text"}]``, in order. Only the
        comment lines before the first statement count (the header)."""
        try:
            text = self.text()
        except (OSError, UnicodeDecodeError):
            return []
        return header_dependencies(text)

    def down_text(self) -> str | None:
        return read_text_utf8(self.down_path) if self.down_path else None


@dataclass
class Discovery:
    """What a migrations folder holds: files in run order, and what an operator should know."""

    directory: Path
    files: list[MigrationFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Names of ``.sql`` files that are not migrations (no numeric prefix)."""
    orphan_downs: list[str] = field(default_factory=list)

    @cached_property
    def by_name(self) -> dict[str, MigrationFile]:
        return {f.name: f for f in self.files}

    def find(self, key: str) -> MigrationFile | None:
        """A file by name, ledger id (prefix as written) or numeric version."""
        if key in self.by_name:
            return self.by_name[key]
        for f in self.files:
            if f.prefix == key or f.ledger_id == key or f.name.removesuffix(".sql") == key:
                return f
        if key.isdigit():
            for f in self.files:
                if f.version == int(key):
                    return f
        return None

    def resolve_ref(self, ref: str) -> MigrationFile | None:
        """The file a header's reference names: ``20260203070910_imported_schema``,
        ``20260204000000_add_source_account_id.up.sql``, or a bare version."""
        if ref in self.by_name:
            return self.by_name[ref]
        stem = ref.removesuffix(".sql").removesuffix(".up")
        for f in self.files:
            base = f.name.removesuffix(".sql").removesuffix(".up")
            if base == stem:
                return f
        return self.find(stem) if stem.isdigit() else None

    def name_order(self) -> list[MigrationFile]:
        """The order the nself CLI runs them in: plain byte order of the file name."""
        return sorted(self.files, key=lambda f: f.name.encode())


def _down_candidates(name: str) -> list[str]:
    """Down file names for an up file: ``X.up.sql`` -> ``X.down.sql`` (nChat's pairs) and
    ``X.up.down.sql`` (what the Go CLI looks for); ``X.sql`` -> ``X.down.sql``, then the older
    Bash CLI's ``X_down.sql``."""
    base = name[: -len(".sql")]
    if base.endswith(".up"):
        stem = base[: -len(".up")]
        return [stem + ".down.sql", base + ".down.sql", stem + "_down.sql"]
    return [base + ".down.sql", base + "_down.sql"]


def discover(directory: Path) -> Discovery:
    """Read ``directory`` (flat, ``*.sql``) and return the up files in run order.

    Down files (``*.down.sql``) are never in the up set; they are paired to their up file.
    Order: numeric version, then file name for equal versions (which is also warned about).
    """
    directory = Path(directory)
    disc = Discovery(directory=directory)
    if not directory.is_dir():
        disc.warnings.append(f"migrations directory {directory} does not exist")
        return disc
    entries = sorted(p for p in directory.iterdir() if p.name.endswith(".sql") and p.is_file())
    names = {p.name for p in entries}
    # X_down.sql is a down file only when its X.sql / X.up.sql is there ("005_slow_down.sql"
    # alone is an up migration with an unlucky name).
    downs = {p.name for p in entries if p.name.endswith(".down.sql")} | {
        n for n in names if n.endswith("_down.sql")
        and ({n[: -len("_down.sql")] + ".sql", n[: -len("_down.sql")] + ".up.sql"} & names)}
    used_downs: set[str] = set()
    files: list[MigrationFile] = []
    for p in entries:
        if p.name in downs:
            continue
        m = UP_NAME.match(p.name)
        if not m:
            disc.skipped.append(p.name)
            disc.warnings.append(
                f"{p.name}: not a migration name (expected NNN_name.sql or "
                "YYYYMMDDHHMMSS_name.up.sql); skipped here, but the nself CLI would run it "
                "in plain name order")
            continue
        prefix = m.group("prefix")
        down = next((c for c in _down_candidates(p.name) if c in names), None)
        if down:
            used_downs.add(down)
        files.append(MigrationFile(
            version=int(prefix), prefix=prefix, name=p.name, path=p,
            down_path=directory / down if down else None,
            style="timestamp" if _is_timestamp(prefix) else "numbered"))
    files.sort(key=lambda f: (f.version, f.name.encode()))
    disc.files = files

    for d in sorted(downs - used_downs):
        disc.orphan_downs.append(d)
        disc.warnings.append(f"{d}: a down file without its up file")
    underscored = sorted(d for d in downs if d.endswith("_down.sql"))
    if underscored:
        disc.warnings.append(
            f"{', '.join(underscored)}: down file(s) named *_down.sql (the older Bash CLI's "
            "style); Go CLIs that exclude only *.down.sql would run these as UP migrations "
            "(the current one skips *_down.sql too)")
    # The current Go CLI skips every file whose name ends in _down.sql (its down-file test),
    # so an UP migration with such a name never runs under it.
    unlucky = [f.name for f in files if f.name.removesuffix(".sql").lower().endswith("_down")]
    if unlucky:
        disc.warnings.append(
            f"{', '.join(unlucky)}: an up migration whose name ends in _down.sql; the current "
            "nself Go CLI takes every *_down.sql for a down file and never runs it (nchat-tui "
            "does): rename it")

    by_version: dict[int, list[str]] = {}
    for f in files:
        by_version.setdefault(f.version, []).append(f.name)
    for v, same in sorted(by_version.items()):
        if len(same) > 1:
            same_id = len({n.split("_", 1)[0] for n in same}) < len(same)
            disc.warnings.append(
                f"duplicate version {v}: {', '.join(same)} (run here in name order; a "
                "version-keyed ledger (Bash, guide) cannot tell them apart"
                + ("; older nself Go CLIs also gave them one nself_ops.migrations id, so only "
                   "the last one's audit row survived (the current CLI, and nchat-tui, key it "
                   "by file name)" if same_id else "")
                + ")")
    inv = order_inversions(files)
    if inv:
        shown = "; ".join(f"{a} before {b}" for a, b in inv[:MAX_INVERSIONS_SHOWN])
        more = f" (and {len(inv) - MAX_INVERSIONS_SHOWN} more)" if len(inv) > MAX_INVERSIONS_SHOWN \
            else ""
        disc.warnings.append(
            "the nself CLI runs files in plain name order, which differs from the numeric "
            f"order here: it would run {shown}{more}. nchat-tui runs them in numeric order")
    return disc


def header_dependencies(text: str) -> list[dict[str, str]]:
    """Dependency lines of a migration's header comment (see ``DEPENDENCY_LINE``)."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            break  # the first statement ends the header
        m = DEPENDENCY_LINE.match(line)
        if m:
            out.append({"label": " ".join(m.group("label").split()).lower(),
                        "text": m.group("text")})
    return out


def order_inversions(files: list[MigrationFile]) -> list[tuple[str, str]]:
    """Pairs (a, b) where name order runs a before b although b's version is lower."""
    by_name = sorted(files, key=lambda f: f.name.encode())
    out: list[tuple[str, str]] = []
    for i, a in enumerate(by_name):
        for b in by_name[i + 1:]:
            if b.version < a.version:
                out.append((a.name, b.name))
    return out
