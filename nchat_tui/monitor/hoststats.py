"""Per-backend CPU, memory and IO, and a short system line, when the monitor runs on the
database host (read from /proc, as pg_activity does: the per-backend figures straight from
/proc/PID/stat and /proc/PID/io, the system line from /proc/meminfo and /proc/diskstats on
Linux; psutil elsewhere).

``HostStats.check(conn)`` decides once per connection whether we are on the host: the
connection must go through a unix socket or a loopback address, AND the backend serving it
must be a local process named ``postgres`` whose title names this very connection (the
client port in ``postgres: user db 127.0.0.1(PORT) ...``, or ``[local]`` on a socket). A
loopback port forwarded to another machine (ssh -L, docker) fails the second test: the pid
PostgreSQL reports is then not ours to read. Everything here is best-effort and never raises:
a process that vanished or that we may not read shows no figures. No Textual, no SQL.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from typing import Any

from nchat_tui.monitor.model import BackendFigures, SystemLine


def _loopback(host: str | None, hostaddr: str | None) -> tuple[bool, str]:
    """(connection is local by address, how)."""
    if not host or host.startswith("/") or host.startswith("@"):
        return True, "unix socket"
    for h in (hostaddr, host):
        if not h:
            continue
        if h == "localhost":
            return True, "localhost"
        try:
            if ipaddress.ip_address(h).is_loopback:
                return True, f"loopback {h}"
        except ValueError:
            continue
    return False, f"host {host} is not a socket or a loopback address"


_PROC_STAT = os.path.exists("/proc/self/stat") and os.path.exists("/proc/self/io")
_CLK = os.sysconf("SC_CLK_TCK") if _PROC_STAT else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if _PROC_STAT else 4096


def _read_proc(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def parse_proc_stat(raw: bytes) -> tuple[int, int, int] | None:
    """(start time, user + system CPU ticks, resident pages) from a /proc/PID/stat line.

    The process name sits in parentheses and may itself hold spaces and parentheses, so the
    fields are counted from the LAST closing parenthesis (proc(5): field 3 is the state)."""
    rest = raw[raw.rfind(b")") + 2:].split()
    try:
        return int(rest[19]), int(rest[11]) + int(rest[12]), int(rest[21])
    except (IndexError, ValueError):
        return None


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    raw = _read_proc(f"/proc/{int(pid)}/stat")
    return None if raw is None else parse_proc_stat(raw)


def _proc_io(pid: int) -> tuple[int, int] | None:
    """(read_bytes, write_bytes) of /proc/PID/io; None where we may not read it."""
    raw = _read_proc(f"/proc/{int(pid)}/io")
    if raw is None:
        return None
    read = write = None
    for line in raw.splitlines():
        if line.startswith(b"read_bytes:"):
            read = int(line[11:])
        elif line.startswith(b"write_bytes:"):
            write = int(line[12:])
    return None if read is None or write is None else (read, write)


def _proc_meminfo() -> tuple[int, int] | None:
    """(MemTotal, MemAvailable) in bytes, as psutil.virtual_memory() reads them."""
    raw = _read_proc("/proc/meminfo")
    if raw is None:
        return None
    got: dict[bytes, int] = {}
    for line in raw.splitlines():
        key, _, value = line.partition(b":")
        if key in (b"MemTotal", b"MemAvailable"):
            got[key] = int(value.split()[0]) * 1024
    if len(got) != 2:
        return None
    return got[b"MemTotal"], got[b"MemAvailable"]


def _proc_disk_bytes() -> tuple[int, int] | None:
    """Bytes read and written by the whole disks (not their partitions), as
    psutil.disk_io_counters() sums them: a device counts when /sys/block names it."""
    raw = _read_proc("/proc/diskstats")
    try:
        disks = set(os.listdir("/sys/block"))
    except OSError:
        return None
    if raw is None:
        return None
    read = written = 0
    for line in raw.splitlines():
        f = line.split()
        if len(f) == 14 or len(f) >= 18:
            sectors = (int(f[5]), int(f[9]))
        elif len(f) == 7:
            sectors = (int(f[4]), int(f[6]))
        else:
            continue
        if f[2].decode(errors="replace").replace("/", "!") in disks:
            read += sectors[0] * 512  # /proc/diskstats counts 512-byte sectors, always
            written += sectors[1] * 512
    return read, written


def _per_second(prev: tuple[float, int, int] | None, now: float, read: int,
                written: int) -> tuple[float | None, float | None]:
    """Bytes read and written per second since ``prev`` (when, read, written): None, None
    on the first reading."""
    if prev is None or now <= prev[0]:
        return None, None
    span = now - prev[0]
    return max(0.0, (read - prev[1]) / span), max(0.0, (written - prev[2]) / span)


class HostStats:
    """Process figures for backends and the host; ``local`` says whether they are shown."""

    def __init__(self) -> None:
        self.local: bool = False
        self.reason: str = "not checked yet"
        self._procs: dict[int, Any] = {}
        self._io: dict[int, tuple[float, int, int]] = {}
        self._disk: tuple[float, int, int] | None = None
        self._cpu_seen: set[int] = set()
        self._stat: dict[int, tuple[int, float, int]] = {}  # pid: (start, when, cpu ticks)
        self._system: tuple[float, SystemLine] | None = None

    # -- where are we -----------------------------------------------------------------------
    def check(self, conn: Any) -> bool:
        """Decide from the live connection whether the server runs on this machine."""
        self._procs.clear()
        self._io.clear()
        self._cpu_seen.clear()
        self._stat.clear()
        import psutil  # noqa: PLC0415 - heavy psutil (~10 ms), loaded when a local server is seen
        info = conn.info
        near, how = _loopback(info.host, getattr(info, "hostaddr", None))
        if not near:
            self.local, self.reason = False, how
            return False
        title_mark = "[local]" if how == "unix socket" else None
        if title_mark is None:
            try:
                fd = conn.pgconn.socket
                dup = socket.fromfd(fd, socket.AF_INET6 if ":" in (info.hostaddr or "")
                                    else socket.AF_INET, socket.SOCK_STREAM)
                try:
                    port = dup.getsockname()[1]
                finally:
                    dup.close()
                title_mark = f"({port})"
            except OSError as exc:
                self.local, self.reason = False, f"cannot read our client port: {exc}"
                return False
        pid = int(info.backend_pid)
        try:
            proc = psutil.Process(pid)
            name = proc.name()
            title = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            self.local, self.reason = False, (f"backend pid {pid} does not exist here: the "
                                              "server runs on another machine")
            return False
        except psutil.AccessDenied:
            self.local, self.reason = False, f"may not read process {pid}"
            return False
        if not (name.startswith("postgres") or title.startswith("postgres")):
            self.local, self.reason = False, (f"local pid {pid} is {name}, not our backend: "
                                              "the server runs on another machine")
            return False
        if title_mark not in title:
            self.local, self.reason = False, (f"local postgres pid {pid} does not serve this "
                                              "connection: the port leads elsewhere")
            return False
        self.local, self.reason = True, f"on the database host ({how})"
        return True

    # -- figures ----------------------------------------------------------------------------
    def backends(self, pids: list[int]) -> dict[int, BackendFigures]:
        """CPU % (since the last call), RSS and read/write bytes per second of each pid."""
        if not self.local:
            return {}
        if _PROC_STAT:
            return self._backends_proc(pids)
        return self._backends_psutil(pids)

    def _backends_proc(self, pids: list[int]) -> dict[int, BackendFigures]:
        """Linux: two short reads per backend (``stat``, ``io``) straight from /proc.

        The same figures psutil gives (``cpu_percent``, ``memory_info().rss``,
        ``io_counters()``: tests/test_monitor.py compares them) for a third of the reads and
        far fewer Python steps: this runs for every backend on every sample."""
        now = time.monotonic()
        out: dict[int, BackendFigures] = {}
        seen = self._stat
        for pid in pids:
            st = _proc_stat(pid)
            if st is None:  # gone, or not ours to read
                seen.pop(pid, None)
                self._io.pop(pid, None)
                continue
            start, ticks, rss_pages = st
            row = BackendFigures(rss_bytes=rss_pages * _PAGE)
            prev = seen.get(pid)
            if prev is not None and prev[0] == start and now > prev[1]:
                row.cpu_pct = round(max(0.0, (ticks - prev[2]) / _CLK / (now - prev[1])
                                        * 100), 1)
            elif prev is not None:  # the pid was reused by another process
                self._io.pop(pid, None)
            seen[pid] = (start, now, ticks)
            io = _proc_io(pid)
            if io is not None:
                row.read_bps, row.write_bps = _per_second(self._io.get(pid), now, *io)
                self._io[pid] = (now, io[0], io[1])
            out[pid] = row
        for gone in set(seen) - set(pids):  # ended backends: forget them
            seen.pop(gone, None)
            self._io.pop(gone, None)
        return out

    def _backends_psutil(self, pids: list[int]) -> dict[int, BackendFigures]:
        import psutil  # noqa: PLC0415 - heavy psutil, loaded on first read

        now = time.monotonic()
        out: dict[int, BackendFigures] = {}
        for pid in pids:
            proc = self._procs.get(pid)
            if proc is None:
                try:
                    proc = self._procs[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue
            row = BackendFigures()
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    row.cpu_pct = round(cpu, 1) if pid in self._cpu_seen else None
                    self._cpu_seen.add(pid)
                    row.rss_bytes = proc.memory_info().rss
                    try:
                        io = proc.io_counters()
                    except (psutil.AccessDenied, AttributeError):
                        io = None
                if io is not None:
                    row.read_bps, row.write_bps = _per_second(
                        self._io.get(pid), now, io.read_bytes, io.write_bytes)
                    self._io[pid] = (now, io.read_bytes, io.write_bytes)
            except psutil.Error:
                self._procs.pop(pid, None)
                continue
            out[pid] = row
        for gone in set(self._procs) - set(pids):  # ended backends: forget them
            self._procs.pop(gone, None)
            self._io.pop(gone, None)
            self._cpu_seen.discard(gone)
        return out

    SYSTEM_EVERY_S = 5.0
    """The system line is read at most this often: the kernel recomputes the load average
    every 5 s, and memory and the disk rates (averaged over the interval) move as slowly."""

    def system(self) -> SystemLine | None:
        """Load average, memory and disk IO per second of the host (None: not on it)."""
        if not self.local:
            return None
        now = time.monotonic()
        if self._system is not None and now - self._system[0] < self.SYSTEM_EVERY_S:
            return self._system[1]
        out = self._read_system(now)
        self._system = (now, out)
        return out

    def _read_system(self, now: float) -> SystemLine:
        """As the JSON carries it: floats rounded to 3 decimals."""
        mem = _proc_meminfo() if _PROC_STAT else None
        if mem is None:
            import psutil  # noqa: PLC0415 - heavy psutil, loaded on first read

            vm = psutil.virtual_memory()
            mem = (vm.total, vm.available)
        total, available = mem
        out = SystemLine(load=[round(x, 3) for x in os.getloadavg()], cpus=os.cpu_count(),
                         mem_total=total, mem_available=available,
                         mem_used_pct=round((total - available) / total * 100, 1) if total
                         else 0.0,
                         disk_read_bps=None, disk_write_bps=None)
        disk = _proc_disk_bytes() if _PROC_STAT else None
        if disk is None:
            try:
                import psutil  # noqa: PLC0415 - heavy psutil, loaded on first read

                counters = psutil.disk_io_counters()
                disk = (counters.read_bytes, counters.write_bytes) if counters else None
            except Exception:
                disk = None
        if disk is not None:
            read, written = _per_second(self._disk, now, *disk)
            self._disk = (now, disk[0], disk[1])
            if read is not None and written is not None:
                out.disk_read_bps, out.disk_write_bps = round(read, 3), round(written, 3)
        return out
