"""How to dump: the archive format, parallel jobs and compression for this client, server and
database, with the reason in words (issue 15).

pg_dump spends nearly all of a custom-format dump compressing, on one core, at its default gzip
level 6. The choice here, unless the operator names one (``--format``, ``--jobs``,
``--compress``):

- **Format**: custom (one ``.dump`` file). nself's restore (``nself db restore``) streams a
  ``.dump`` file into ``docker exec -i <project>_postgres pg_restore``; it cannot read a
  directory dump. A directory dump with ``-j N`` is faster only when several large tables share
  the work, so it is never the default: when it would be clearly faster here, the method says so
  (and that nself cannot restore it), and ``--format directory`` picks it.
- **Compression**: the fastest the client's pg_dump offers that the restore side reads.
  pg_dump 15 and older compress with gzip only, level 0-9: the level with the highest
  measured throughput whose files stay within 25% of the default level's size (level 1 on this
  data: ``bench/bench_backup.py`` measures every level, see docs/PERFORMANCE.md; level 0
  writes the data uncompressed, several times the size, and is only taken when asked).
  pg_dump 16+ may also offer zstd and lz4 (when built with them: probed, never assumed); they
  are used only when the server is 16+ too, because nself restores with the server container's
  own pg_restore, and an older pg_restore cannot read them.
- **Jobs** (directory format only): enough workers for the large tables, at most the CPUs.

Nothing here runs pg_dump except ``probe_compressions`` (which never connects anywhere).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from nchat_tui.errors import BadInput, ToolMissing
from nchat_tui.pg.tools import PgTool, ToolTimeout, docker_binary, run_captured

DEFAULT_GZIP_LEVEL = 6  # pg_dump's own default (zlib's Z_DEFAULT_COMPRESSION)
LEVELS = {"gzip": (1, 9), "lz4": (1, 12), "zstd": (1, 22)}
PARALLEL_WORTH = 1.25  # a directory dump is mentioned when it would be at least this much faster
MAX_JOBS = 8

# pg_dump -Fc -Z N against the default level 6, measured by bench/bench_backup.py on the 1 GiB
# nChat-like database (docs/PERFORMANCE.md, "gzip levels"): level -> (table data per CPU second
# of pg_dump, file size), both relative to level 6. Per CPU second, because compression is what
# a dump's one pg_dump core spends its time on, and wall times on a shared machine drift. The
# automatic choice takes the fastest level whose files stay within MAX_SIZE_VS_DEFAULT of level
# 6's, and says what it trades; rerun the benchmark to update.
GZIP_LEVELS: dict[int, tuple[float, float]] = {
    0: (24.4, 2.66), 1: (3.14, 1.11), 2: (2.82, 1.08), 3: (2.31, 1.05), 4: (1.77, 1.03),
    6: (1.0, 1.0), 9: (0.87, 1.0)}
MAX_SIZE_VS_DEFAULT = 1.25


def fastest_gzip_level() -> int:
    """The gzip level with the highest measured throughput among those whose files stay within
    ``MAX_SIZE_VS_DEFAULT`` of pg_dump's default level."""
    ok = {lv: f for lv, f in GZIP_LEVELS.items() if f[1] <= MAX_SIZE_VS_DEFAULT}
    return max(ok, key=lambda lv: ok[lv][0])


_SPEC = re.compile(r"^(?:(?P<level>\d+)|(?P<alg>gzip|lz4|zstd|none)(?::(?P<alg_level>\d+))?)$")


@dataclass(frozen=True)
class Compression:
    """One compression setting: ``algorithm`` is gzip, lz4, zstd or none."""

    algorithm: str
    level: int | None = None

    def spec(self) -> str:
        """The manifest's and the screen's short form: ``gzip:1``, ``zstd:1``, ``none``."""
        if self.algorithm == "none" or (self.algorithm == "gzip" and self.level == 0):
            return "none"
        return self.algorithm + (f":{self.level}" if self.level is not None else "")

    def pg_dump_args(self, pg_dump_major: int) -> list[str]:
        """``-Z`` as this pg_dump wants it (an integer level up to 15, a spec from 16)."""
        if pg_dump_major < 16:
            level = 0 if self.algorithm == "none" else (
                DEFAULT_GZIP_LEVEL if self.level is None else self.level)
            return ["-Z", str(level)]
        return [f"--compress={self.spec()}"]

    def describe(self) -> str:
        if self.spec() == "none":
            return "no compression"
        level = "its default level" if self.level is None else f"level {self.level}"
        return f"{self.algorithm} {level}"


def parse_compress(text: str) -> Compression:
    """``--compress`` as pg_dump takes it: ``0``-``9`` (gzip levels; 0 = none), ``gzip``,
    ``gzip:N``, ``lz4[:N]``, ``zstd[:N]``, ``none``. Raises ``BadInput``."""
    m = _SPEC.match(text.strip().lower())
    if not m:
        raise BadInput(f"--compress {text!r}: use a gzip level 0-9, or gzip[:N], lz4[:N], "
                       "zstd[:N] or none")
    if m.group("level") is not None:
        level = int(m.group("level"))
        if level > 9:
            raise BadInput(f"--compress {level}: gzip levels are 0 (none) to 9")
        return Compression("none") if level == 0 else Compression("gzip", level)
    alg = m.group("alg")
    if alg == "none":
        if m.group("alg_level") not in (None, "0"):
            raise BadInput("--compress none takes no level")
        return Compression("none")
    alg_level = int(m.group("alg_level")) if m.group("alg_level") is not None else None
    lo, hi = LEVELS[alg]
    if alg_level is not None and not lo <= alg_level <= hi:
        raise BadInput(f"--compress {alg}:{alg_level}: {alg} levels are {lo} to {hi}")
    return Compression(alg, alg_level)


# ---------------------------------------------------------------------------------------------
# what the client's pg_dump can do
# ---------------------------------------------------------------------------------------------
_PROBED: dict[tuple[str, str | None], frozenset[str]] = {}
UNREACHABLE = "host=/nonexistent/nchat-tui-probe port=1 connect_timeout=1"


def probe_compressions(tool: PgTool) -> frozenset[str]:
    """The algorithms this pg_dump build offers: always gzip (and none); lz4 and zstd from 16
    when it was built with them. pg_dump checks a ``--compress`` spec before it connects, so
    the probe points it at a socket that does not exist: "does not support" means no, a
    connection error means yes. Cached per tool."""
    key = (tool.path, tool.docker)
    if key in _PROBED:
        return _PROBED[key]
    found = {"gzip", "none"}
    if tool.major >= 16:
        for alg in ("lz4", "zstd"):
            args = ["-Fc", f"--compress={alg}", "-f", "/dev/null", "-w", "-d", UNREACHABLE]
            argv = ([docker_binary(), "exec", "-i", tool.docker, tool.name, *args] if tool.docker
                    else [tool.path, *args])
            try:
                proc = run_captured(argv, {k: v for k, v in os.environ.items()
                                           if not k.startswith("PG")}, timeout=30)
            except (ToolMissing, ToolTimeout):
                continue
            err = proc.stderr.lower()
            if "does not support" in err or "unrecognized compression" in err:
                continue
            if "connect" in err or "socket" in err:
                found.add(alg)
    result = frozenset(found)
    _PROBED[key] = result
    return result


# ---------------------------------------------------------------------------------------------
# the method
# ---------------------------------------------------------------------------------------------
@dataclass
class DumpMethod:
    """Format, jobs and compression of one dump, how they were chosen, and what they mean."""

    format: str
    jobs: int
    compression: Compression
    chosen_by: str
    """``auto`` or ``operator`` (any of --format/--jobs/--compress given)."""
    reason: str
    """One or two sentences: why this method, and the size trade-off."""
    nself_restorable: bool
    """``nself db restore`` can read it (a custom ``.dump`` whose compression the server's own
    pg_restore reads)."""
    notes: list[str] = field(default_factory=list)
    """Faster methods not taken, and what a restore needs."""
    pg_dump_major: int = 0
    streamed: bool = False
    """Written through a pipe while it is hashed and read back (custom format, see backup.stream);
    such an archive has no data offsets in its table of contents."""

    def pg_dump_args(self) -> list[str]:
        fmt = ["-Fc"] if self.format == "custom" else ["-Fd", "-j", str(self.jobs)]
        return [*fmt, *self.compression.pg_dump_args(self.pg_dump_major)]

    def summary(self) -> str:
        """One line for the screen: ``custom format, gzip level 1`` (+ jobs)."""
        jobs = f", {self.jobs} jobs" if self.format == "directory" else ""
        return f"{self.format} format{jobs}, {self.compression.describe()}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["compression"] = self.compression.spec()
        d["summary"] = self.summary()
        return d


def parallel_speedup(table_bytes: dict[str, int], jobs: int) -> float:
    """How much faster ``jobs`` workers could dump these tables than one: each table is dumped
    by one worker, so the largest table bounds it."""
    sizes = [b for b in table_bytes.values() if b > 0]
    total = sum(sizes)
    if total <= 0 or jobs <= 1:
        return 1.0
    return total / max(max(sizes), total / jobs)


def auto_jobs(table_bytes: dict[str, int], cpus: int | None = None) -> int:
    """The fewest workers that get (within 5%) the best speedup these tables allow, at most
    the CPUs (compression is CPU work) and ``MAX_JOBS``."""
    limit = max(1, min(cpus or os.cpu_count() or 1, MAX_JOBS))
    best = parallel_speedup(table_bytes, limit)
    for n in range(1, limit + 1):
        if parallel_speedup(table_bytes, n) >= 0.95 * best:
            return n
    return limit


def _largest(table_bytes: dict[str, int]) -> tuple[str, float]:
    sizes = {k: v for k, v in table_bytes.items() if v > 0}
    total = sum(sizes.values())
    if not sizes or total <= 0:
        return "", 0.0
    name = max(sizes, key=lambda k: sizes[k])
    return name, sizes[name] / total


def choose_method(*, pg_dump: PgTool, server_major: int, table_bytes: dict[str, int],
                  fmt: str | None = None, jobs: int | None = None,
                  compress: str | None = None, docker: bool = False,
                  algorithms: frozenset[str] | None = None,
                  cpus: int | None = None) -> DumpMethod:
    """The dump method for this client, server and database; ``fmt``/``jobs``/``compress``
    are the operator's overrides (None: choose). Raises ``BadInput`` for an override this
    pg_dump cannot do."""
    if fmt not in (None, "custom", "directory"):
        raise BadInput(f"unknown backup format {fmt!r}: use custom or directory")
    if jobs is not None and jobs < 1:
        raise BadInput("--jobs must be at least 1")
    if jobs is not None and jobs > 1 and fmt != "directory":
        raise BadInput("parallel dumps (--jobs > 1) need --format directory")
    algs = algorithms if algorithms is not None else probe_compressions(pg_dump)
    cpus = cpus or os.cpu_count() or 1
    operator = fmt is not None or jobs is not None or compress is not None
    notes: list[str] = []
    why: list[str] = []

    # -- format and jobs --------------------------------------------------------------------
    the_fmt = fmt or "custom"
    if the_fmt == "directory":
        n = jobs if jobs is not None else auto_jobs(table_bytes, cpus)
        if jobs is None:
            why.append(f"{n} parallel job{'s' if n != 1 else ''}: as many as the large tables "
                       f"and {cpus} CPU{'s' if cpus != 1 else ''} allow "
                       f"(~{parallel_speedup(table_bytes, n):.1f}x one job's speed at best)")
        notes.append("a directory dump is not a .dump file: nself db restore cannot read it; "
                     "restore it with nchat-tui restore or pg_restore -j N -d DB DIR")
    else:
        n = 1
        best_n = auto_jobs(table_bytes, cpus)
        gain = parallel_speedup(table_bytes, best_n)
        if gain >= PARALLEL_WORTH and not docker:
            notes.append(f"--format directory --jobs {best_n} could dump up to ~{gain:.1f}x "
                         "faster here (several large tables), but nself db restore cannot read "
                         "a directory dump; the default stays the .dump file nself restores")
        elif best_n > 1 or len([b for b in table_bytes.values() if b > 0]) > 1:
            name, share = _largest(table_bytes)
            if name:
                notes.append(f"a parallel (directory) dump would gain little: {name} holds "
                             f"{share:.0%} of the data and one job dumps it alone")

    # -- compression -------------------------------------------------------------------------
    if compress is not None:
        comp = parse_compress(compress)
        if comp.algorithm in ("lz4", "zstd"):
            if pg_dump.major < 16:
                raise BadInput(f"--compress {compress}: pg_dump {pg_dump.version} compresses with "
                               "gzip only; lz4 and zstd need pg_dump 16 or newer",
                               "use a gzip level (1 is the fastest) or install a newer client")
            if comp.algorithm not in algs:
                raise BadInput(f"--compress {compress}: this pg_dump ({pg_dump.describe()}) was "
                               f"built without {comp.algorithm}", "use gzip or zstd/lz4 if built in")
        why.append(f"{comp.describe()}, as asked")
    else:
        comp, text = _auto_compression(pg_dump, server_major, algs)
        why.append(text)
    if comp.spec() == "none":
        notes.append("no compression: the dump is about the size of the table data (several "
                     "times a compressed one)")

    # -- who can restore it --------------------------------------------------------------------
    restorable = the_fmt == "custom"
    if comp.algorithm in ("lz4", "zstd"):
        if server_major < 16:
            restorable = False
            notes.append(f"{comp.algorithm} needs pg_restore 16+: nself restores with the server "
                         f"container's pg_restore {server_major}, which cannot read it")
        else:
            notes.append(f"restoring needs pg_restore 16+ built with {comp.algorithm} (the "
                         "official postgres images are)")
    if pg_dump.major > server_major and restorable:
        notes.append(f"pg_dump {pg_dump.major} is newer than the server ({server_major}): "
                     f"nself restores with the container's pg_restore {server_major}, which may "
                     "refuse this archive ('unsupported version in file header'); restore "
                     f"with pg_restore {pg_dump.major} (nchat-tui restore does)")
    if the_fmt == "custom" and restorable:
        why.append("one .dump file, as nself db backup writes and nself db restore reads")
    reason = "; ".join(why)
    return DumpMethod(the_fmt, n, comp, "operator" if operator else "auto", reason, restorable,
                      notes, pg_dump.major, streamed=the_fmt == "custom")


def _auto_compression(pg_dump: PgTool, server_major: int,
                      algs: frozenset[str]) -> tuple[Compression, str]:
    """The fastest compression the restore side reads, and why."""
    if pg_dump.major >= 16 and server_major >= 16:
        if "zstd" in algs:
            return Compression("zstd", 1), (
                "zstd level 1: this pg_dump offers zstd, which at level 1 compresses several "
                "times faster than gzip (faster than the server sends rows) and about as small "
                "as gzip's default level 6")
        if "lz4" in algs:
            return Compression("lz4", 1), (
                "lz4 level 1: this pg_dump offers lz4 (not zstd), which compresses several "
                "times faster than gzip, at some cost in size")
    why_gzip = (f"pg_dump {pg_dump.major} compresses with gzip only" if pg_dump.major < 16 else
                "this pg_dump has no zstd or lz4" if not algs & {"zstd", "lz4"} else
                f"the server ({server_major}) is older than 16: its pg_restore (the one nself "
                "restores with) reads gzip only")
    level = fastest_gzip_level()
    speed, size = GZIP_LEVELS[level]
    text = (f"gzip level {level}: {why_gzip}, and level {level} has the highest throughput of "
            f"the levels whose files stay within {(MAX_SIZE_VS_DEFAULT - 1) * 100:.0f}% of the "
            f"default level {DEFAULT_GZIP_LEVEL}'s size: ~{speed:.1f}x its throughput for files "
            f"~{(size - 1) * 100:.0f}% larger (measured on nChat-like data, docs/PERFORMANCE.md)")
    if 0 in GZIP_LEVELS and level != 0:
        s0, z0 = GZIP_LEVELS[0]
        text += (f"; no compression (--compress 0) would cost ~{s0 / speed:.0f}x less CPU again "
                 f"but write ~{z0:.1f}x the bytes")
    return Compression("gzip", level), text
