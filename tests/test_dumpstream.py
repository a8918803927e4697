"""The streamed dump (nchat_tui/backup/stream.py): pg_dump to a pipe, file + sha256 as it goes, the
file read back by the real pg_restore while it grows. Real server, real pg_dump/pg_restore.

Stand-ins, said plainly: to hand the reader a damaged archive, the "dump" command of three tests
is ``head -c N`` (or a short Python script flipping one byte) over a real archive that the real
pg_dump wrote; the reader is always the real pg_restore.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.backup.engine import classify_tool_failure
from nchat_tui.backup.stream import StreamedDump
from nchat_tui.errors import ToolMissing
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import Cancelled, find_tool

READ = ["pg_restore", "-f", "/dev/null"]


def _load(conn: psycopg.Connection[Any], rows: int = 20000) -> None:
    conn.execute("CREATE TABLE nchat_messages (id bigserial PRIMARY KEY, content text NOT NULL)")
    conn.execute("INSERT INTO nchat_messages (content) SELECT md5(g::text) || repeat("
                 "md5(random()::text), 20) FROM generate_series(1, %s) g", (rows,))
    conn.execute("CREATE TABLE nchat_users (id int PRIMARY KEY, name text)")
    conn.execute("INSERT INTO nchat_users SELECT g, 'user ' || g FROM generate_series(1, 500) g")


def _dump_argv(target: Target, *extra: str) -> tuple[list[str], dict[str, str]]:
    tool = find_tool("pg_dump")
    return [tool.path, "-Fc", "-Z", "1", *extra], target.subprocess_env()


def _real_archive(target: Target, tmp_path: Path) -> Path:
    argv, env = _dump_argv(target)
    out = tmp_path / "real.dump"
    subprocess.run([*argv, "-f", str(out)], env=env, check=True)
    return out


def test_the_file_its_sha256_and_the_full_read_come_from_one_pass(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
    _load(pg_conn)
    argv, env = _dump_argv(target)
    out = tmp_path / "stream.partial"
    sd = StreamedDump(argv, env, out, read_argv=READ, read_env=env).start()
    assert sd.pid is not None
    res = sd.wait()
    assert res.dump_rc == 0 and res.write_error is None
    assert res.read_rc == 0, res.read_stderr
    data = out.read_bytes()
    assert res.size == len(data) == res.read_fed  # the reader read the whole file
    assert res.sha256 == hashlib.sha256(data).hexdigest() == res.read_sha256
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert data.startswith(b"PGDMP")
    # the archive restores (in parallel too: no data offsets, pg_restore finds the blocks)
    new = f"{target.database}_copy"
    pg_conn.execute(f'CREATE DATABASE "{new}"')
    try:
        subprocess.run(["pg_restore", "-j", "2", "-d", new, "--exit-on-error", str(out)],
                       env=target.subprocess_env(new), check=True, capture_output=True)
        with psycopg.connect(make_conninfo(**{**target.params, "dbname": new})) as c:
            assert c.execute("SELECT count(*) FROM nchat_messages").fetchone() == (20000,)
    finally:
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')


@pytest.mark.parametrize("cut", ["half", "last_bytes"])
def test_a_truncated_stream_fails_the_read_as_truncated(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path, cut: str) -> None:
    _load(pg_conn)
    real = _real_archive(target, tmp_path)
    n = real.stat().st_size // 2 if cut == "half" else real.stat().st_size - 50
    out = tmp_path / "short.partial"
    sd = StreamedDump(["head", "-c", str(n), str(real)], dict(os.environ), out,
                      read_argv=READ, read_env=dict(os.environ)).start()
    res = sd.wait()
    assert res.dump_rc == 0 and res.size == n
    assert res.read_rc == 1
    kind, msg, _ = classify_tool_failure("pg_restore", res.read_stderr)
    assert kind == "truncated", res.read_stderr
    assert "truncated" in msg


def test_a_corrupt_block_fails_the_read_as_corrupt(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
    _load(pg_conn)
    real = _real_archive(target, tmp_path)
    flip = ("import sys; d = bytearray(open(sys.argv[1], 'rb').read()); "
            "d[len(d) * 2 // 3] ^= 0xFF; sys.stdout.buffer.write(d)")
    out = tmp_path / "bad.partial"
    sd = StreamedDump([sys.executable, "-c", flip, str(real)], dict(os.environ), out,
                      read_argv=READ, read_env=dict(os.environ)).start()
    res = sd.wait()
    assert res.dump_rc == 0
    assert res.read_rc == 1
    kind, _msg, _ = classify_tool_failure("pg_restore", res.read_stderr)
    assert kind == "corrupt", res.read_stderr
    # the file holds what came through the pipe, byte for byte, damage included
    assert res.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert res.sha256 != hashlib.sha256(real.read_bytes()).hexdigest()


def test_killing_pg_dump_mid_stream_ends_both_sides(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
    _load(pg_conn, rows=60000)
    argv, env = _dump_argv(target)
    out = tmp_path / "killed.partial"
    sd = StreamedDump(argv, env, out, read_argv=READ, read_env=env).start()
    assert sd.pid is not None
    os.kill(sd.pid, 9)
    res = sd.wait()
    assert res.dump_rc == -9
    assert sd.reader is not None and sd.reader.running is not None
    assert not sd.reader.alive()  # the reader does not linger
    assert res.read_rc != 0


def test_cancel_kills_pg_dump_and_the_reader(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
    _load(pg_conn, rows=60000)
    argv, env = _dump_argv(target)
    cancel = threading.Event()
    cancel.set()
    sd = StreamedDump(argv, env, tmp_path / "c.partial", read_argv=READ, read_env=env).start()
    with pytest.raises(Cancelled):
        sd.wait(cancel)
    assert sd.dump.running is not None and not sd.dump.alive()
    assert sd.reader is not None and sd.reader.running is not None
    assert sd.reader.wait(timeout=10) is not None


def test_a_missing_reader_fails_before_pg_dump_starts(target: Target, tmp_path: Path) -> None:
    argv, env = _dump_argv(target)
    sd = StreamedDump(argv, env, tmp_path / "x.partial",
                      read_argv=[str(tmp_path / "no-such-pg_restore")], read_env=env)
    with pytest.raises(ToolMissing):
        sd.start()
    assert sd.dump.running is None


def test_a_full_disk_stops_pg_dump_and_says_enospc(
        pg_conn: psycopg.Connection[Any], target: Target, tiny_disk: Path) -> None:
    pg_conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    pg_conn.execute("CREATE TABLE blobs (b bytea)")
    pg_conn.execute("INSERT INTO blobs SELECT gen_random_bytes(1024) FROM generate_series(1, 3000)")
    argv, env = _dump_argv(target)
    sd = StreamedDump(argv, env, tiny_disk / "full.partial", read_argv=READ, read_env=env).start()
    res = sd.wait()
    assert res.write_error is not None and res.write_error.errno == 28  # ENOSPC
    assert res.dump_rc != 0  # pg_dump was stopped, not left blocked on a full pipe
    assert res.read_rc != 0
