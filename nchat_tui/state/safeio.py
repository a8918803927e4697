"""Files the tool keeps (journals, manifests, pointers, baselines): written fully, fsync'd,
checked, private from creation, and never reached through a path read from a file that leaves
its directory.

- ``write_all``: ``os.write`` may write less than asked (a disk filling up): loop until every
  byte is written or the OS says why not (``ENOSPC``), never return as if it worked.
- ``write_file_atomic``: a temp name beside the target (0600 from ``os.open``), every byte,
  fsync, rename over the target, fsync the directory. A crash leaves the old file or the new
  one, never half of one under the real name.
- ``private_dir``: create each missing component 0700 at creation (``mkdir(parents=True)``
  would make the parents 0755), and say clearly when a component is a file.
- ``contained``: a name read from a manifest or a journal, resolved, and refused unless it is
  a plain name inside its directory.
- ``os_error_line``: one line (cause, path, next step) for an ``OSError``: the CLI's error
  boundary uses it for disk full, read-only, permission and not-a-directory failures.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from nchat_tui.errors import BadInput
from nchat_tui.state.failpoints import failpoint


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (retrying short writes), or raise ``OSError``."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # a regular file never does this; refuse to loop forever
            raise OSError(errno.EIO, "write returned 0 bytes")
        view = view[n:]


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(d: Path) -> Path:
    """Make ``d`` (and each missing parent) with mode 0700 at creation; an existing directory
    is left as it is. Raises ``NotADirectoryError`` naming the component that is a file."""
    d = Path(d)
    missing: list[Path] = []
    p = d
    while not p.exists():
        if p.is_symlink():  # a dangling link: do not create through it
            raise FileExistsError(errno.EEXIST, "a dangling symbolic link is in the way", str(p))
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(p))
    for m in reversed(missing):
        try:
            os.mkdir(m, 0o700)
        except FileExistsError:
            if not m.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(m)) from None
    return d


def write_file_atomic(path: Path, data: bytes, *, mode: int = 0o600,
                      mid_write_failpoint: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically (temp name, fsync, rename, fsync the directory)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    try:
        if mid_write_failpoint is not None:
            half = len(data) // 2
            write_all(fd, data[:half])
            failpoint(mid_write_failpoint)
            write_all(fd, data[half:])
        else:
            write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def contained(base: Path, name: object) -> Path | None:
    """``base / name`` when ``name`` is a plain file name (no separator, not ``.``/``..``)
    whose resolved path stays inside ``base``; else None. For names read from files."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or "\\" in name or "\0" in name:
        return None
    p = Path(base) / name
    try:
        real_base = Path(os.path.realpath(base))
        real = Path(os.path.realpath(p))
    except (OSError, ValueError):
        return None
    if real.parent != real_base:
        return None
    return p


ERRNO_TEXT = {
    errno.ENOSPC: ("disk full", "free space there, then run the command again"),
    errno.EDQUOT: ("disk quota exceeded", "free space or raise the quota, then run it again"),
    errno.EROFS: ("read-only file system", "choose a writable directory"),
    errno.EACCES: ("permission denied", "fix the permissions or choose another directory"),
    errno.EPERM: ("operation not permitted", "fix the permissions or choose another directory"),
    errno.ENOTDIR: ("not a directory", "a file is in the way: choose another directory or "
                                       "move the file"),
    errno.EISDIR: ("is a directory", "give a file name, not a directory"),
    errno.EEXIST: ("already exists", "move it away or choose another name"),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.EFBIG: ("file too large", "the file size limit (ulimit -f) was reached"),
    errno.EIO: ("input/output error", "check the disk (dmesg)"),
}


def os_error_line(exc: OSError, what: str = "") -> tuple[str, str]:
    """(message, hint) for an OSError: ``what`` says what the tool was doing."""
    cause, hint = ERRNO_TEXT.get(exc.errno or 0, (exc.strerror or str(exc), ""))
    where = exc.filename if exc.filename is not None else ""
    msg = f"{what + ': ' if what else ''}{cause}" + (f" ({where})" if where else "")
    return msg, hint


def read_text_utf8(path: Path) -> str:
    """A SQL or text file the operator wrote, as UTF-8; ``BadInput`` naming the file and the
    first bad byte when it is not UTF-8 (a traceback otherwise)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"{Path(path).name} is not UTF-8 text: byte 0x{data[exc.start]:02x} on "
                       f"line {line}; nothing was run",
                       "save the file as UTF-8 (iconv -f latin1 -t utf-8)") from None
