"""Per-backend CPU, memory and IO, and a short system line, when the monitor runs on the
database host (read with psutil from /proc, as pg_activity does).

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


class HostStats:
    """psutil figures for backends and the host; ``local`` says whether they are shown."""

    def __init__(self) -> None:
        self.local: bool = False
        self.reason: str = "not checked yet"
        self._procs: dict[int, Any] = {}
        self._io: dict[int, tuple[float, int, int]] = {}
        self._disk: tuple[float, int, int] | None = None
        self._cpu_seen: set[int] = set()
        self._system: tuple[float, SystemLine] | None = None

    # -- where are we -----------------------------------------------------------------------
    def check(self, conn: Any) -> bool:
        """Decide from the live connection whether the server runs on this machine."""
        self._procs.clear()
        self._io.clear()
        self._cpu_seen.clear()
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
                    prev = self._io.get(pid)
                    self._io[pid] = (now, io.read_bytes, io.write_bytes)
                    if prev is not None and now > prev[0]:
                        row.read_bps = max(0.0, (io.read_bytes - prev[1]) / (now - prev[0]))
                        row.write_bps = max(0.0, (io.write_bytes - prev[2]) / (now - prev[0]))
            except psutil.Error:
                self._procs.pop(pid, None)
                continue
            out[pid] = row
        for gone in set(self._procs) - set(pids):  # ended backends: forget them
            self._procs.pop(gone, None)
            self._io.pop(gone, None)
            self._cpu_seen.discard(gone)
        return out

    SYSTEM_EVERY_S = 2.0
    """The system line is read at most this often (a screen redraws it no faster)."""

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
        import psutil  # noqa: PLC0415 - heavy psutil, loaded on first read

        mem = psutil.virtual_memory()
        out = SystemLine(load=[round(x, 3) for x in os.getloadavg()], cpus=os.cpu_count(),
                         mem_total=mem.total, mem_available=mem.available,
                         mem_used_pct=round(float(mem.percent), 3), disk_read_bps=None,
                         disk_write_bps=None)
        try:
            disk = psutil.disk_io_counters()
        except Exception:
            disk = None
        if disk is not None:
            prev = self._disk
            self._disk = (now, disk.read_bytes, disk.write_bytes)
            if prev is not None and now > prev[0]:
                out.disk_read_bps = round(max(0.0, (disk.read_bytes - prev[1])
                                              / (now - prev[0])), 3)
                out.disk_write_bps = round(max(0.0, (disk.write_bytes - prev[2])
                                               / (now - prev[0])), 3)
        return out
