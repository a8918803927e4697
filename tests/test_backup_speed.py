"""Issue 15 end to end: the backup chooses its method and says so, streams the dump through
the sha256 and the full read, and keeps every guarantee of issue 3 (a kill leaves no file under
the final name; a damaged dump fails). Real server, real pg_dump/pg_restore; the CLI in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.backup.engine import (
    Progress,
    find_leftovers,
    list_backups,
    read_manifest,
    restore_into,
    run_backup,
    verify_backup,
)
from nchat_tui.errors import BadInput, OperationFailed
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal
from tests.test_backup import gone, load_schema, run_cli


def _commands(target: Target) -> dict[str, list[str]]:
    j = Journal.for_target(target.state_dir, target.masked())
    return {r["purpose"]: r["argv"] for r in j.records() if r["event"] == "command_run"}


def test_the_chosen_method_is_announced_and_kept_in_the_manifest(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=3000, pad=10)
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup")
    assert rc == 0, err
    # on screen: the method line as the dump starts, and in the confirmation
    assert re.search(r"^-- method: custom format, gzip level 1 \(chosen for this client, "
                     r"server and database\): gzip level 1: pg_dump 15 compresses with gzip "
                     r"only, and level 1 has the highest throughput", out, re.M), out
    assert "files ~" in out and "larger" in out  # the size trade-off
    assert re.search(r"^method {6}custom format, gzip level 1 \(chosen automatically\)$",
                     out, re.M)
    assert re.search(r"^restore {5}nself db restore reads it$", out, re.M)
    path = Path(re.search(r"^backup {6}(\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    assert re.fullmatch(rf"{re.escape(target.database)}_\d{{8}}_\d{{6}}\.dump", path.name)
    m = read_manifest(path.with_name(path.name.replace(".dump", ".manifest.json")))
    assert m is not None and m["state"] == "verified"
    method = m["method"]
    assert (m["format"], m["jobs"], m["compression"]) == ("custom", 1, "gzip:1")
    assert method["compression"] == "gzip:1" and method["chosen_by"] == "auto"
    assert method["nself_restorable"] is True and method["streamed"] is True
    assert "highest throughput" in method["reason"]
    # the checks say what was done while dumping, and the file passes a fresh verify-backup
    checks = {c["check"]: c["detail"] for c in m["verification"]["checks"]}
    assert checks["full_read"].endswith("while pg_dump wrote them")
    assert "read back while dumping" in checks["sha256"]
    assert "full_read_lag_s" in m["timings"] and "sha256_s" not in m["timings"]
    assert verify_backup(path).ok
    # pg_dump wrote to the pipe (no -f), with the chosen compression; the reader read stdin
    cmds = _commands(target)
    dump = cmds["backup: pg_dump"]
    assert dump[dump.index("-Z") + 1] == "1" and "-f" not in dump and "-Fc" in dump
    assert cmds["verify: full read while dumping"][-2:] == ["-f", "/dev/null"]


def test_compress_override_and_what_pg_dump_15_cannot_do(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=2000, pad=10)
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup", "--compress", "6", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["method"]["compression"] == "gzip:6" and res["method"]["chosen_by"] == "operator"
    assert "as asked" in res["method"]["reason"]
    dump = _commands(target)["backup: pg_dump"]
    assert dump[dump.index("-Z") + 1] == "6"
    # pg_dump 15 has no zstd: refused before anything is written
    before = sorted(target.backup_dir.iterdir())
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup", "--compress", "zstd:1")
    assert rc == 2
    assert "gzip only" in err and "16 or newer" in err
    assert sorted(target.backup_dir.iterdir()) == before
    rc, _out, err = run_cli(monkeypatch, capsys, target, "backup", "--compress", "brotli")
    assert rc == 2 and "--compress" in err
    with pytest.raises(BadInput):
        run_backup(target, compress="gzip:12")


def test_a_corrupt_data_block_of_a_streamed_dump_fails_verification(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
    load_schema(pg_conn, messages=6000, pad=20)
    res = run_backup(target)
    assert res.manifest["method"]["streamed"]
    data = bytearray(res.path.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF  # inside the compressed data of the largest table
    alone = tmp_path / "copy.dump"
    alone.write_bytes(bytes(data))
    v = verify_backup(alone)  # no manifest: the full read finds it
    assert not v.ok and v.failure_kind == "corrupt", v.failure
    d = tmp_path / "with"
    d.mkdir()
    (d / res.path.name).write_bytes(bytes(data))
    shutil.copy(res.manifest_path, d / res.manifest_path.name)
    v = verify_backup(d / res.path.name, update_manifest=False)
    assert not v.ok and v.failure_kind == "altered"  # the checksum names it first
    assert not next(c for c in v.checks if c["check"] == "full_read")["ok"]


def _reader_pid() -> int | None:
    """Our child pg_restore -f /dev/null (the full read of the streamed dump)."""
    me = os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            ppid = int((d / "stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and cmd and cmd[0].endswith(b"pg_restore") and b"/dev/null" in cmd:
            return int(d.name)
    return None


def test_killing_the_full_read_mid_dump_fails_the_backup_and_keeps_no_final_file(
        pg_conn: psycopg.Connection[Any], target: Target) -> None:
    load_schema(pg_conn, messages=20000, pad=40)
    killed: list[int] = []

    def on_progress(ev: Progress) -> None:
        if ev.kind == "started" and not killed:
            for _ in range(200):  # the reader starts just before pg_dump; its exec may lag
                pid = _reader_pid()
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                subprocess.run(["sleep", "0.01"])

    with pytest.raises(OperationFailed) as ei:
        run_backup(target, on_progress=on_progress)
    assert killed and gone(killed[0])
    assert "failed verification" in ei.value.message and "killed" in ei.value.message
    assert list(target.backup_dir.glob("*.dump")) == []
    [info] = list_backups(target.backup_dir)
    assert info.state == "failed" and info.path.name.endswith(".partial")
    assert [lo.paths[0] for lo in find_leftovers(target.backup_dir)] == [info.path]


def test_a_streamed_dump_restores_in_parallel_and_through_stdin(
        pg_conn: psycopg.Connection[Any], target: Target) -> None:
    load_schema(pg_conn, messages=5000, pad=10)
    res = run_backup(target)
    new = f"{target.database}_par"
    try:
        rr = restore_into(target, res.path, new, jobs=2)  # no data offsets: pg_restore seeks
        assert rr.mismatches == [] and rr.counts["public.nchat_messages"] == 5000
    finally:
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')
    # as nself db restore does it: the file on pg_restore's standard input
    seq = f"{target.database}_seq"
    pg_conn.execute(f'CREATE DATABASE "{seq}"')
    try:
        with open(res.path, "rb") as fh:
            subprocess.run(["pg_restore", "--exit-on-error", "-d", seq], stdin=fh, check=True,
                           env=target.subprocess_env(seq), capture_output=True)
        with psycopg.connect(make_conninfo(**{**target.params, "dbname": seq})) as c:
            assert c.execute("SELECT count(*) FROM nchat_messages").fetchone() == (5000,)
    finally:
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{seq}" WITH (FORCE)')


def test_directory_format_says_nself_cannot_restore_it(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=2000, pad=5)
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup", "--format", "directory")
    assert rc == 0, err
    assert re.search(r"^method {6}directory format, \d jobs?, gzip level 1 \(as asked\)$",
                     out, re.M), out
    assert "NOT readable by nself db restore" in out
    m = json.loads(next(target.backup_dir.glob("*.manifest.json")).read_text())
    assert m["method"]["nself_restorable"] is False and m["method"]["streamed"] is False
    assert "sha256_s" in m["timings"]


def test_the_app_step_shows_the_method_and_keeps_it_in_its_evidence(
        pg_conn: psycopg.Connection[Any], target: Target) -> None:
    from nchat_tui.upgrade.actions import ActionContext
    from nchat_tui.upgrade.steps import act_backup

    load_schema(pg_conn, messages=1000, pad=5)
    lines: list[str] = []
    ctx = ActionContext(target, Journal.for_target(target.state_dir, target.masked()),
                        progress=lambda p: lines.append(p.text))
    res = act_backup(ctx)
    assert res.status in ("ok", "warn"), res.summary
    assert any(ln.startswith("method: custom format, gzip level 1 (chosen for this client")
               for ln in lines), lines
    method = res.evidence["method"]
    assert method["summary"] == "custom format, gzip level 1"
    assert method["nself_restorable"] is True and "gzip level 1" in method["reason"]
