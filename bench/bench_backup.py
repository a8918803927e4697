"""Benchmark: the default *verified* `nchat-tui backup` against a bare `pg_dump -Fc` (issue 15).

Usage:
    .venv/bin/python bench/bench_backup.py [--sizes 1,5] [--pairs 2] [--write-doc]
                                           [--data-dir DIR] [--skip-restore] [--skip-levels]

A throwaway PostgreSQL 15 cluster under /tmp (or --data-dir, kept for the next run) holds one
nChat-like database per size in GiB (bench/backup_data.py). For each size, in one run, in turn
(A B B A: which side goes first alternates, so drift in this shared machine hits both alike):

  A  `nchat-tui backup` as an operator runs it (default method, sha256 and full read: verified)
  B  bare `pg_dump -Fc -f FILE` (what operators run today: gzip level 6)

with wall time, CPU (the command's whole process tree: pg_dump, pg_restore, Python; the
server's own COPY work is not in it) and file size. Then the restore of each side's file, in
turn too: `pg_restore -j 2 -d NEW` (as `nchat-tui restore` and the rollback do) and the
sequential `pg_restore -d NEW < FILE` (as nself db restore streams it through docker exec).
On the first size it also measures every gzip level of pg_dump alone (throughput and size: the
trade-off the automatic choice rests on) and the directory format with automatic jobs.

The target (issue 15): verified backup <= 0.7 x bare pg_dump on every size; restores no slower.
With --write-doc the results replace the "## Backup" section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import backup_data  # noqa: E402

from nchat_tui.pg.cluster import LocalCluster  # noqa: E402

# `nchat-tui` itself, except that subcommand modules other engineers have not landed yet are
# left out of the parser (a missing one would stop every command from starting).
RUNNER = """
import importlib.util, sys
from nchat_tui.cli import main as cli
cli.COMMANDS = [m for m in cli.COMMANDS if importlib.util.find_spec(m) is not None]
sys.exit(cli.main())
"""
NCHAT_ARGV = [sys.executable, "-c", RUNNER]
TARGET_RATIO = 0.7


def conninfo(params: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU so far (/proc/stat)."""
    with open("/proc/stat") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class Run:
    """One timed command: wall, CPU of its process tree, machine CPU busy, load."""

    def __init__(self, argv: list[str], env: dict[str, str], *, stdin: Path | None = None) -> None:
        self.argv = argv
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b0, t0_all = machine_busy()
        self.load = os.getloadavg()[0]
        t0 = time.perf_counter()
        fh = open(stdin, "rb") if stdin else None  # noqa: SIM115
        try:
            self.proc = subprocess.run(argv, env=env, capture_output=True, text=True,
                                       stdin=fh if fh else subprocess.DEVNULL)
        finally:
            if fh:
                fh.close()
        self.wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b1, t1_all = machine_busy()
        self.cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        self.machine_busy = (b1 - b0) / max(1.0, t1_all - t0_all)
        if self.proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} ... failed ({self.proc.returncode}): "
                             f"{self.proc.stderr[-2000:]}")


def du(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def abba(pairs: int) -> list[str]:
    """A B B A (A B B A ...): which side runs first alternates."""
    out: list[str] = []
    for i in range(pairs):
        out += ["A", "B"] if i % 2 == 0 else ["B", "A"]
    return out


def drop(admin: dict[str, str], name: str) -> None:
    with psycopg.connect(conninfo(admin), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create(admin: dict[str, str], name: str) -> None:
    drop(admin, name)
    with psycopg.connect(conninfo(admin), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')


def ensure_database(cluster: LocalCluster, size_gb: float) -> dict[str, Any]:
    """The database of this size, built once (its description is kept beside the cluster)."""
    name = f"bench_{str(size_gb).replace('.', '_')}g"
    info_path = cluster.sockdir.parent / f"{name}.json"
    admin = cluster.socket_conninfo()
    with psycopg.connect(conninfo(admin), autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists and info_path.exists():
        info = json.loads(info_path.read_text())
        print(f"reusing {name}: {info['db_size'] / 1024**3:.2f} GiB", flush=True)
        return info
    create(admin, name)
    print(f"building {name} (scale {size_gb}) ...", flush=True)
    info = backup_data.build(cluster.socket_conninfo(name), size_gb,
                             say=lambda m: print(m, flush=True))
    info["name"] = name
    info_path.write_text(json.dumps(info))
    print(f"built {name}: {info['db_size'] / 1024**3:.2f} GiB in {info['build_s']:.0f}s",
          flush=True)
    return info


def bench_size(cluster: LocalCluster, info: dict[str, Any], pairs: int, out_dir: Path,
               state_dir: Path, *, restore: bool, levels: bool, directory: bool) -> dict[str, Any]:
    name = info["name"]
    tcp = cluster.tcp_conninfo(name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"PGHOST": tcp["host"], "PGPORT": tcp["port"], "PGUSER": tcp["user"],
                "PGDATABASE": name, "PGPASSWORD": tcp["password"]})
    backup_dir = out_dir / name
    common = ["--backup-dir", str(backup_dir), "--state-dir", str(state_dir)]
    r: dict[str, Any] = {"name": name, "db_size": info["db_size"],
                         "table_bytes": sum(info["tables"].values()), "tables": info["tables"],
                         "load_before": os.getloadavg()[0]}
    ours: list[Run] = []
    bare: list[Run] = []
    keep: dict[str, Path] = {}
    manifests: list[dict[str, Any]] = []
    for i, side in enumerate(abba(pairs)):
        if side == "A":
            run = Run([*NCHAT_ARGV, "backup", "--json", *common], env)
            res = json.loads(run.proc.stdout)
            assert res["state"] == "verified", res
            man = json.loads(Path(res["manifest"]).read_text())
            manifests.append(man)
            run.size = res["size"]  # type: ignore[attr-defined]
            ours.append(run)
            path = Path(res["path"])
            if "A" in keep:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                Path(res["manifest"]).unlink()
            else:
                keep["A"] = path
        else:
            f = out_dir / f"{name}_bare_{i}.dump"
            run = Run(["pg_dump", "-Fc", "-f", str(f)], env)
            run.size = du(f)  # type: ignore[attr-defined]
            bare.append(run)
            if "B" in keep:
                f.unlink()
            else:
                keep["B"] = f
        print(f"  {name} {'nchat-tui backup (verified)' if side == 'A' else 'bare pg_dump -Fc'}: "
              f"{run.wall:.2f}s wall, {run.cpu:.2f}s CPU, load {run.load:.2f}", flush=True)
    r["ours_runs"] = [x.wall for x in ours]
    r["bare_runs"] = [x.wall for x in bare]
    r["ours_cpu"] = [x.cpu for x in ours]
    r["bare_cpu"] = [x.cpu for x in bare]
    r["ours_machine_busy"] = [x.machine_busy for x in ours]
    r["bare_machine_busy"] = [x.machine_busy for x in bare]
    r["loads"] = [x.load for x in ours + bare]
    r["ours_median"] = statistics.median(r["ours_runs"])
    r["bare_median"] = statistics.median(r["bare_runs"])
    r["ratio"] = r["ours_median"] / r["bare_median"]
    r["ours_size"] = ours[-1].size  # type: ignore[attr-defined]
    r["bare_size"] = bare[-1].size  # type: ignore[attr-defined]
    r["method"] = manifests[-1].get("method")
    r["timings"] = {k: statistics.median(float(m["timings"].get(k) or 0) for m in manifests)
                    for k in manifests[-1].get("timings", {})}
    r["verification"] = [c["check"] for c in (manifests[-1].get("verification") or {})
                         .get("checks", [])]
    print(f"  ratio {r['ratio']:.3f} (target <= {TARGET_RATIO})", flush=True)

    admin = cluster.socket_conninfo()
    if restore:
        # -j 2 (nchat-tui restore / rollback), then the sequential stdin restore (nself's), each
        # side in turn. A warm-up restore first, and a CHECKPOINT before each timed one: the
        # previous restore's dirty buffers must not be flushed on the next one's time.
        new = f"{name}_restore"
        create(admin, new)
        Run(["pg_restore", "-j", "2", "-d", new, str(keep["B"])], {**env, "PGDATABASE": new})
        for mode in ("j2", "stdin"):
            times: dict[str, list[float]] = {"A": [], "B": []}
            for side in abba(pairs):
                create(admin, new)
                with psycopg.connect(conninfo(admin), autocommit=True) as c:
                    c.execute("CHECKPOINT")
                renv = {**env, "PGDATABASE": new}
                if mode == "j2":
                    run = Run(["pg_restore", "-j", "2", "-d", new, str(keep[side])], renv)
                else:
                    run = Run(["pg_restore", "-d", new], renv, stdin=keep[side])
                times[side].append(run.wall)
                print(f"  restore {mode} {'ours' if side == 'A' else 'bare'}: {run.wall:.2f}s, "
                      f"load {run.load:.2f}", flush=True)
            r[f"restore_{mode}_ours"] = times["A"]
            r[f"restore_{mode}_bare"] = times["B"]
        drop(admin, new)
    if levels:
        lv: dict[str, dict[str, float]] = {}
        for level in (6, 1, 2, 3, 4, 0, 9):
            f = out_dir / f"{name}_z{level}.dump"
            run = Run(["pg_dump", "-Fc", "-Z", str(level), "-f", str(f)], env)
            lv[str(level)] = {"wall": run.wall, "cpu": run.cpu, "size": du(f), "load": run.load}
            f.unlink()
            print(f"  pg_dump -Z {level}: {run.wall:.2f}s, {du_text(lv[str(level)]['size'])}",
                  flush=True)
        r["levels"] = lv
        six = lv["6"]
        print("  for nchat_tui/backup/method.py GZIP_LEVELS (per CPU second): {" + ", ".join(
            f"{k}: ({six['cpu'] / x['cpu']:.2f}, {x['size'] / six['size']:.2f})"
            for k, x in sorted(lv.items(), key=lambda kv: int(kv[0]))) + "}", flush=True)
    if directory:
        run = Run([*NCHAT_ARGV, "backup", "--json", "--format", "directory", *common], env)
        res = json.loads(run.proc.stdout)
        r["dir"] = {"wall": run.wall, "cpu": run.cpu, "size": res["size"], "load": run.load,
                    "method": json.loads(Path(res["manifest"]).read_text()).get("method")}
        shutil.rmtree(res["path"])
        Path(res["manifest"]).unlink()
        print(f"  nchat-tui backup --format directory: {run.wall:.2f}s", flush=True)
    for p in keep.values():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.rmtree(backup_dir, ignore_errors=True)
    r["load_after"] = os.getloadavg()[0]
    return r


def du_text(n: float) -> str:
    return f"{n / 1024**2:.0f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,5", help="database sizes in GiB, comma-separated")
    ap.add_argument("--pairs", type=int, default=2, help="A B pairs per size (2: A B B A)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="keep the cluster here and reuse its databases on the next run")
    ap.add_argument("--skip-restore", action="store_true")
    ap.add_argument("--skip-levels", action="store_true")
    ap.add_argument("--build-only", action="store_true",
                    help="build the databases (with --data-dir: for a later run) and stop")
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]

    base = args.data_dir or Path(tempfile.mkdtemp(prefix="nchat-bench-backup-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    cluster = LocalCluster(datadir=base / "data", sockdir=base / "run", password="bench-pw",
                           extra_conf={"shared_buffers": "'512MB'", "max_wal_size": "'8GB'",
                                       "synchronous_commit": "off",
                                       "maintenance_work_mem": "'256MB'"})
    out_dir = base / "out"
    out_dir.mkdir(exist_ok=True)
    results: dict[str, Any] = {"sizes": []}
    try:
        cluster.start()
        infos = [ensure_database(cluster, s) for s in sizes]
        if args.build_only:
            return 0
        with psycopg.connect(conninfo(cluster.socket_conninfo()), autocommit=True) as c:
            row = c.execute("SELECT version()").fetchone()
            results["server"] = row[0].split(" on ")[0] if row else "?"
        results["pg_dump"] = subprocess.run(["pg_dump", "--version"], capture_output=True,
                                            text=True).stdout.strip()
        results["started"] = time.strftime("%Y-%m-%d %H:%M")
        for k, info in enumerate(infos):
            print(f"== {info['name']} ({info['db_size'] / 1024**3:.2f} GiB), load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
            results["sizes"].append(bench_size(
                cluster, info, args.pairs, out_dir, base / "state",
                restore=not args.skip_restore, levels=k == 0 and not args.skip_levels,
                directory=k == 0))
    finally:
        cluster.stop(mode="immediate" if args.data_dir is None else "fast")
        if args.data_dir is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
    results["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPUs, "
                          f"Python {platform.python_version()}")
    text = json.dumps(results, indent=2, default=str)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)
    if args.write_doc:
        write_doc(results, args.pairs)
    return 0 if all(s["ratio"] <= TARGET_RATIO for s in results["sizes"]) else 1


def _s(x: float) -> str:
    return f"{float(x):.2f} s"


def _runs(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


def _mib(x: float) -> str:
    return f"{float(x) / 1024**2:,.0f} MiB"


def render(r: dict[str, Any], pairs: int) -> str:
    """The "## Backup" section of docs/PERFORMANCE.md from one run's results."""
    sizes = r["sizes"]
    order = " ".join(abba(pairs))
    met = all(s["ratio"] <= TARGET_RATIO for s in sizes)
    lines = [
        "## Backup",
        "",
        f"Measured by `bench/bench_backup.py` on {r['started']} ({r['machine']}), "
        f"{r['server']} in a throwaway local cluster, {r['pg_dump']}. nChat-like databases "
        "(`bench/backup_data.py`: nchat_messages with content and content_plain, reactions, "
        "notifications, channel members, attachments, users, auth.users; uuid keys, enums, "
        "jsonb, btree indexes; chat text drawn word by word from a 4,000-word vocabulary, so it "
        "compresses like chat, not like repeated lines). Each size: the two sides in turn "
        f"({order}; A = `nchat-tui backup`, B = bare `pg_dump -Fc -f FILE`), medians.",
        "",
        f"**Target** (issue 15): the default verified backup (sha256 + full read) takes at most "
        f"{TARGET_RATIO} x the wall time of bare `pg_dump -Fc`, on every size: "
        f"**{'met' if met else 'NOT met'}**.",
        "",
        "| database | bare `pg_dump -Fc` | `nchat-tui backup` (verified) | **ratio** | CPU bare / ours "
        "| file bare / ours | load (1 min) during |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        lines.append(
            f"| {s['db_size'] / 1024**3:.2f} GiB ({_mib(s['table_bytes'])} of table data) "
            f"| {_s(s['bare_median'])} ({_runs(s['bare_runs'])}) "
            f"| {_s(s['ours_median'])} ({_runs(s['ours_runs'])}) "
            f"| **{s['ratio']:.2f}** "
            f"| {statistics.median(s['bare_cpu']):.1f} s / {statistics.median(s['ours_cpu']):.1f} s "
            f"| {_mib(s['bare_size'])} / {_mib(s['ours_size'])} "
            f"| {min(s['loads']):.2f}-{max(s['loads']):.2f} |")
    lines += ["", "CPU is the command's whole process tree (pg_dump, pg_restore, Python); the "
              "server's side of the COPY is not in it. "
              "The load column is the 1-minute load average when each run started (this "
              "machine is shared; the runs alternate so both sides meet the same drift).", ""]
    m = sizes[0].get("method") or {}
    if m:
        lines += [f"The method `nchat-tui backup` chose: **{m.get('summary')}**: "
                  f"{m.get('reason')}."]
        for n in m.get("notes") or []:
            lines.append(f"- {n}")
        lines.append("")
    lines += ["Inside `nchat-tui backup` (medians, s): "
              + ", ".join(f"{k.removesuffix('_s')} {v:.2f}" for k, v in sizes[0]["timings"].items())
              + " (1st size); "
              + ", ".join(f"{k.removesuffix('_s')} {v:.2f}" for k, v in sizes[-1]["timings"].items())
              + " (last size). The full read runs while pg_dump writes (it reads the file as it "
              "grows), and sha256 takes the bytes as they are written: `full_read_lag` is all "
              "the wall time the verification adds after pg_dump's last byte.", ""]
    if any("restore_j2_ours" in s for s in sizes):
        lines += ["### Restore", "",
                  "The same two files restored into a new database, in turn (after one warm-up "
                  "restore, with a CHECKPOINT before each): `pg_restore -j 2 -d` (as `nchat-tui "
                  "restore` and the rollback do) and the sequential `pg_restore -d DB < FILE` (as "
                  "nself db restore streams a .dump through docker exec). Ours has no data offsets "
                  "(written through a pipe) and is gzip level 1: pg_restore -j 2 finds each "
                  "table's data by skipping block headers.", "",
                  "| database | `-j 2`, bare's file | `-j 2`, ours | stdin, bare's | stdin, ours |",
                  "|---|---|---|---|---|"]
        for s in sizes:
            if "restore_j2_ours" not in s:
                continue
            lines.append(
                f"| {s['db_size'] / 1024**3:.2f} GiB "
                f"| {_s(statistics.median(s['restore_j2_bare']))} ({_runs(s['restore_j2_bare'])}) "
                f"| {_s(statistics.median(s['restore_j2_ours']))} ({_runs(s['restore_j2_ours'])}) "
                f"| {_s(statistics.median(s['restore_stdin_bare']))} "
                f"({_runs(s['restore_stdin_bare'])}) "
                f"| {_s(statistics.median(s['restore_stdin_ours']))} "
                f"({_runs(s['restore_stdin_ours'])}) |")
        lines.append("")
    lv = sizes[0].get("levels")
    if lv:
        tb = sizes[0]["table_bytes"]
        six = lv.get("6") or next(iter(lv.values()))
        lines += ["### gzip levels (pg_dump alone)", "",
                  f"`pg_dump -Fc -Z N -f FILE` on the {sizes[0]['db_size'] / 1024**3:.2f} GiB "
                  "database, one run each: the trade-off the automatic choice rests on. "
                  "pg_dump 15 has no other compression; lz4 and zstd (pg_dump 16+) could not "
                  "be measured here: no pg_dump on this machine is built with them.", "",
                  "| level | wall | CPU (pg_dump) | table data per second | throughput vs 6 "
                  "(wall) | per CPU second vs 6 | file | size vs 6 |",
                  "|---|---|---|---|---|---|---|---|"]
        for level, x in sorted(lv.items(), key=lambda kv: int(kv[0])):
            lines.append(f"| {level}{' (pg_dump default)' if level == '6' else ''} "
                         f"| {_s(x['wall'])} | {x['cpu']:.1f} s "
                         f"| {tb / x['wall'] / 1024**2:,.0f} MiB/s "
                         f"| {six['wall'] / x['wall']:.2f} | {six['cpu'] / x['cpu']:.1f} "
                         f"| {_mib(x['size'])} | {x['size'] / six['size']:.2f} |")
        lines.append("")
    d = sizes[0].get("dir")
    if d:
        lines += [f"`nchat-tui backup --format directory` (verified; "
                  f"{(d.get('method') or {}).get('summary')}): {_s(d['wall'])}, "
                  f"{_mib(d['size'])}, on the {sizes[0]['db_size'] / 1024**3:.2f} GiB database "
                  "(nself db restore cannot read a directory dump).", ""]
    lines += [f"Load average (1 min): {sizes[0]['load_before']:.2f} before the first size, "
              f"{sizes[-1]['load_after']:.2f} after the last.", ""]
    return "\n".join(lines)


def write_doc(r: dict[str, Any], pairs: int) -> None:
    section = render(r, pairs)
    doc = REPO / "docs" / "PERFORMANCE.md"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    start = text.find("## Backup")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    sys.exit(main())
