"""A custom-format dump written, hashed and read back in one pass (issue 15).

The verified backup used to run three steps one after the other: ``pg_dump -Fc -f FILE``, then
``sha256`` over the file, then the full read (``pg_restore -f /dev/null FILE``). Here they overlap:

- pg_dump writes its archive to a pipe. The *copy* thread moves the pipe's bytes into the
  partial file and feeds the same bytes to sha256 as it goes. The file is written front to back
  exactly once and never rewritten (pg_dump, writing to a seekable file itself, would rewrite its
  table of contents at the end to add data offsets), so the digest is the file's own sha256.
- The *feed* thread reads the file back as it grows, hashes what it reads (a second sha256,
  over the file's bytes as stored: equal to the first, it proves the file holds what was
  written) and streams it into ``pg_restore -f /dev/null`` (the same full read
  ``verify-backup`` does, reading standard input). pg_dump never waits for it: the reader
  follows the file, not the pipe, and finishes shortly after the dump. Every data block is
  decompressed: a truncated stream, a bad block or a short file fails the read exactly as it
  fails on a finished file.

What the file lacks: data offsets in its table of contents (a pipe cannot be rewound). pg_restore
reads such an archive sequentially (as nself's restore, ``docker exec -i ... pg_restore <
FILE``, and every ``docker exec`` dump always did), and ``pg_restore -j`` still restores it in
parallel from a file, finding each table's data by skipping block headers.

A kill at any moment leaves the partial file under its temporary name; the caller renames it
only after pg_dump exited 0 and the read passed. A full disk stops the copy (``ENOSPC``), which
kills pg_dump; the caller reports it and removes the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nchat_tui.pg.tools import ToolProcess

CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _grow_pipe(fd: int) -> None:
    """Ask Linux for a 1 MiB pipe (fewer wake-ups than the default 64 KiB); harmless if refused."""
    with contextlib.suppress(OSError, ValueError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


@dataclass
class StreamResult:
    """What happened to one streamed dump."""

    dump_rc: int
    size: int
    """Bytes written to the file (all pg_dump produced, unless ``write_error``)."""
    sha256: str
    """sha256 of exactly those bytes, in file order: the file's digest."""
    write_error: OSError | None = None
    read_rc: int | None = None
    """pg_restore's exit code; None when no full read ran (or it was not waited for)."""
    read_stderr: list[str] = field(default_factory=list)
    read_fed: int = 0
    """Bytes of the file handed to pg_restore (equals ``size`` when it read to the end)."""
    read_sha256: str | None = None
    """sha256 of the bytes read back from the file for pg_restore (when it read them all):
    equal to ``sha256`` proves the file holds exactly what was written and hashed."""
    dump_s: float = 0.0
    """From the start until pg_dump exited and its last byte was in the file."""
    read_lag_s: float | None = None
    """How long the full read went on after that (the wall time verification still cost)."""


class StreamedDump:
    """pg_dump to a pipe -> file + sha256, and the file -> ``pg_restore -f /dev/null``.

    ``dump_argv`` must make pg_dump write the archive to standard output (no ``-f``);
    ``read_argv`` is a pg_restore reading standard input (or None: no full read). Both run in
    their own process group (``ToolProcess``). ``start`` then ``wait``; ``kill`` from any thread.
    """

    def __init__(self, dump_argv: list[str], dump_env: dict[str, str], path: Path, *,
                 read_argv: list[str] | None = None, read_env: dict[str, str] | None = None,
                 on_line: Callable[[str], None] | None = None, chunk: int = CHUNK) -> None:
        self.path = path
        self.chunk = chunk
        self.dump = ToolProcess(dump_argv, dump_env, on_line=on_line, stdout=subprocess.PIPE)
        self.reader = (ToolProcess(read_argv, read_env if read_env is not None else dict(os.environ),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                       if read_argv is not None else None)
        self._hash = hashlib.sha256()
        self._read_hash = hashlib.sha256()
        self._written = 0
        self._fed = 0
        self._copy_done = False
        self._write_error: OSError | None = None
        self.feed_error: OSError | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._fd = -1
        self._rfd = -1
        self._t0 = 0.0
        self._t_dump_end: float | None = None

    @property
    def pid(self) -> int | None:
        return self.dump.pid

    @property
    def written(self) -> int:
        return self._written

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> StreamedDump:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._rfd = os.open(self.path, os.O_RDONLY)
            if self.reader is not None:
                self.reader.start()  # first: a missing pg_restore fails before pg_dump runs
                assert self.reader.stdin_pipe is not None
                _grow_pipe(self.reader.stdin_pipe.fileno())
            self._t0 = time.monotonic()
            self.dump.start()
        except BaseException:
            self.kill()
            self._close_fds()
            raise
        assert self.dump.stdout_pipe is not None
        _grow_pipe(self.dump.stdout_pipe.fileno())
        self._threads = [threading.Thread(target=self._copy, name=f"dump-copy-{self.pid}",
                                          daemon=True)]
        if self.reader is not None:
            self._threads.append(threading.Thread(target=self._feed,
                                                  name=f"dump-read-{self.pid}", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def kill(self) -> None:
        """Kill pg_dump and the reader (their process groups); the threads then wind down."""
        self._stop.set()
        self.dump.kill()
        if self.reader is not None:
            self.reader.kill()
        with self._cond:
            self._cond.notify_all()

    def wait(self, cancel_event: threading.Event | None = None) -> StreamResult:
        """Wait for pg_dump, the copy, then the full read. ``Cancelled`` (from
        ``ToolProcess.wait``) when ``cancel_event`` is set: both children are killed first."""
        try:
            rc = self.dump.wait(cancel_event)
            self._threads[0].join()
            self._t_dump_end = time.monotonic()
            read_rc: int | None = None
            if self.reader is not None:
                if rc != 0 or self._write_error is not None:
                    self.reader.kill()  # the dump failed: its half-read is not the news
                read_rc = self.reader.wait(cancel_event)
                for t in self._threads[1:]:
                    t.join()
        except BaseException:
            self.kill()
            for t in self._threads:
                t.join(timeout=10)
            self._close_fds()
            raise
        t_end = time.monotonic()
        self._close_fds()
        return StreamResult(
            dump_rc=rc, size=self._written, sha256=self._hash.hexdigest(),
            write_error=self._write_error, read_rc=read_rc,
            read_stderr=list(self.reader.stderr_tail) if self.reader is not None else [],
            read_fed=self._fed,
            read_sha256=(self._read_hash.hexdigest() if self.reader is not None
                         and self._fed == self._written else None),
            dump_s=self._t_dump_end - self._t0,
            read_lag_s=(t_end - self._t_dump_end) if self.reader is not None else None)

    def _close_fds(self) -> None:
        for attr in ("_fd", "_rfd"):
            fd = getattr(self, attr)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, -1)

    # -- threads ---------------------------------------------------------------------------------
    def _copy(self) -> None:
        """pg_dump's stdout -> the file, and sha256 over the same bytes."""
        assert self.dump.stdout_pipe is not None
        src = self.dump.stdout_pipe.fileno()
        try:
            while True:
                try:
                    data = os.read(src, self.chunk)
                except OSError:
                    break
                if not data:
                    break
                if self._write_error is None:
                    try:
                        _write_all(self._fd, memoryview(data))
                    except OSError as exc:
                        # a full disk (or any write error): stop pg_dump, the caller reports it
                        self._write_error = exc
                        self.dump.kill()
                        continue  # drain what is left so pg_dump is never stuck on the pipe
                    self._hash.update(data)
                    with self._cond:
                        self._written += len(data)
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._copy_done = True
                self._cond.notify_all()

    def _feed(self) -> None:
        """The file as it grows -> pg_restore's stdin; closes it at the end of the file."""
        assert self.reader is not None and self.reader.stdin_pipe is not None
        sink = self.reader.stdin_pipe
        pos = 0
        try:
            while not self._stop.is_set():
                with self._cond:
                    while self._written <= pos and not self._copy_done and not self._stop.is_set():
                        self._cond.wait(0.5)
                    end = self._written
                    done = self._copy_done
                if self._write_error is not None or self._stop.is_set():
                    break
                while pos < end:
                    data = os.pread(self._rfd, min(self.chunk, end - pos), pos)
                    if not data:  # the file shrank under us: the reader gets a short stream
                        done = True
                        break
                    self._read_hash.update(data)
                    _write_all(sink.fileno(), memoryview(data))
                    pos += len(data)
                    self._fed = pos
                if done and pos >= self._written:
                    break
        except OSError as exc:
            # EPIPE: pg_restore stopped reading (it found a bad block and exited), and its exit
            # code says so. Anything else (reading our own file back failed) is recorded: the
            # reader then sees a short stream and fails too.
            if exc.errno != errno.EPIPE:
                self.feed_error = exc
        finally:
            with contextlib.suppress(OSError):
                sink.close()
