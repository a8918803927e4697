"""Benchmark: our monitor beside the real pg_activity (PyPI release, the ``bench`` group).

Usage: .venv/bin/python bench/bench_monitor.py [--window 40] [--repeats 1] [--tables 10000]
                                               [--sizes 80x24,200x50] [--loads idle,pgbench]
                                               [--ours-path DIR] [--write-doc]

One throwaway PostgreSQL 15 cluster per database size (so one tool's price is never charged to
the other: pg_activity sums the size of every database of its cluster on each refresh):
``demo`` holds the nChat demo database (``load_demo``, scale 1.0), ``many`` a database of
--tables small tables; each also holds a ``pgbench`` database for the load. Both clusters run
with ``pg_stat_statements.track_planning = on``.

In each window the three clients run at the same time, each as its own superuser role, over
TCP on 127.0.0.1, at a 1 s refresh, their start order alternating from one window to the next:
  - ``pg_activity``: the real pg_activity 3.6.2, in a tmux pane of the window's size;
  - ``dashboard``: ``nchat-tui monitor --tui`` (the app's dashboard), in a pane of that size;
  - ``headless``: ``nchat-tui monitor --json`` (the sampler alone), its output discarded.
Windows: each load (idle; ``pgbench -c 50`` on the pgbench database) times each terminal size,
--repeats times. Per client and window:
  - server ms per refresh: the role's summed ``total_exec_time + total_plan_time`` in
    pg_stat_statements (reset when the window starts) divided by its refreshes (the calls of
    its most-called statement: each runs once per refresh);
  - client CPU % of one core over the window: the scheduler's on-CPU time of its threads
    (/proc/PID/task/*/schedstat, nanoseconds), and utime + stime (/proc/PID/stat, sampled at
    the clock tick) beside it; RSS (/proc/PID/status at the end of the window);
  - time to first data: from the process start until a session that was already running
    (a ``pg_sleep`` marker in the monitored database) shows on its screen (the pane, polled
    every 50 ms), or its first JSON line for the headless sampler.
On the demo cluster, idle, 80x24, the app itself: ``nchat-tui`` until its first screen, and
``m`` until the dashboard shows data (three tries each, medians).
The load average (1 min) is read at the end of every window. Results go to
/tmp/nchat-bench-monitor.json; with --write-doc the "## Monitor" section of
docs/PERFORMANCE.md is rewritten from them (the other sections are left as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nchat_tui.pg.cluster import LocalCluster, find_server_bindir  # noqa: E402

ROLES = {"pg_activity": "bench_pga", "dashboard": "bench_dash", "headless": "bench_headless",
         "app": "bench_app"}
CLIENTS = ("pg_activity", "dashboard", "headless")
ROLE_PASSWORD = "bench-role-pw"
TMUX_SOCKET = f"mon-bench-{os.getpid()}"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes -------------------------------------------------------------------------------
def tmux(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True,
                          check=check)
    return proc.stdout


def cpu_seconds(pid: int) -> float:
    """utime + stime: sampled at the clock tick (10 ms), so a client that works ~3 ms a second
    is charged in whole ticks, and a 40 s window reads to one tick in 4,000 (0.025 %)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def cpu_seconds_exact(pid: int) -> tuple[float, int]:
    """The time the process's threads spent on a CPU, from the scheduler, in nanoseconds
    (``/proc/PID/task/*/schedstat``, first field), and how many threads: a thread that ends
    within a window would take its time away (the thread counts are recorded to show none
    did)."""
    total, threads = 0, 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
            threads += 1
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between the listing and the read
    return total / 1e9, threads


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Client:
    """One monitoring client of a window: a tmux pane (pg_activity, the dashboard) or a pipe."""

    made = 0

    def __init__(self, kind: str, argv: list[str], env: dict[str, str], size: tuple[int, int],
                 marker_pid: int) -> None:
        self.kind, self.argv, self.env, self.size = kind, argv, env, size
        self.marker = re.compile(rf"\b{marker_pid}\b")
        self.pid = 0
        self.started = 0.0
        self.first_data: float | None = None
        Client.made += 1
        self.session = f"mon-{kind}-{Client.made}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        if self.kind == "headless":
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True,
                                         cwd=self.env["HOME"])
            self.pid = self.proc.pid
            threading.Thread(target=self._drain, daemon=True).start()
            return
        w, h = self.size
        envs = [a for k, v in self.env.items() for a in ("-e", f"{k}={v}")]
        cmd = "exec " + " ".join(_quote(a) for a in self.argv)
        # the working directory is not the checkout: `python -m` puts it first on sys.path
        tmux("new-session", "-d", "-s", self.session, "-x", str(w), "-y", str(h),
             "-c", self.env["HOME"], *envs, cmd)
        self.pid = int(tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _line in self.proc.stdout:
            if self.first_data is None:
                self.first_data = time.monotonic() - self.started

    def poll_first_data(self) -> bool:
        if self.first_data is None and self.kind != "headless":
            screen = tmux("capture-pane", "-p", "-t", self.session, check=False)
            if self.marker.search(screen):
                self.first_data = time.monotonic() - self.started
        return self.first_data is not None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        else:
            tmux("kill-session", "-t", self.session, check=False)


def _quote(a: str) -> str:
    return "'" + a.replace("'", "'\\''") + "'"


# -- the clusters ---------------------------------------------------------------------------
def make_many(params: dict[str, Any], n: int) -> None:
    with psycopg.connect(**params, autocommit=True) as conn:
        for start in range(1, n + 1, 500):
            stop = min(n, start + 499)
            conn.execute(f"""DO $$ BEGIN FOR i IN {start}..{stop} LOOP
                EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', lpad(i::text, 5, '0'));
                EXECUTE format('INSERT INTO t%s VALUES (1, ''x'')', lpad(i::text, 5, '0'));
                END LOOP; END $$""")
        conn.execute("VACUUM ANALYZE")


def setup_cluster(kind: str, base: Path, tables: int) -> tuple[LocalCluster, dict[str, Any]]:
    cluster = LocalCluster(datadir=base / kind / "data", sockdir=base / kind / "run",
                           password="bench-admin-pw",
                           extra_conf={"pg_stat_statements.track_planning": "on",
                                       "max_connections": "200"})
    (base / kind).mkdir(parents=True)
    os.chmod(base / kind, 0o755)
    cluster.start()
    dbname = "nchat" if kind == "demo" else "many"
    with psycopg.connect(make_conninfo(**cluster.socket_conninfo()), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {dbname}")
        c.execute("CREATE DATABASE pgbench")
        for role in ROLES.values():
            c.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{ROLE_PASSWORD}'")
    params: dict[str, Any] = dict(cluster.tcp_conninfo(dbname))
    t0 = time.monotonic()
    if kind == "demo":
        from nchat_tui.demo.builder import load_demo

        load_demo(params, scale=1.0)
    else:
        make_many(params, tables)
    with psycopg.connect(**params, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        c.execute("VACUUM ANALYZE")
        row = c.execute("SELECT pg_database_size(current_database()), (SELECT count(*) "
                        "FROM pg_class WHERE relkind IN ('r','m') AND relnamespace NOT IN "
                        "('pg_catalog'::regnamespace, 'information_schema'::regnamespace))"
                        ).fetchone()
    assert row is not None
    info = {"database": dbname, "bytes": row[0], "tables": row[1],
            "load_s": round(time.monotonic() - t0, 1)}
    pgb = dict(cluster.tcp_conninfo("pgbench"))
    subprocess.run([str(find_server_bindir() / "pgbench"), "-i", "-q", "-s", "10", "-h",
                    pgb["host"], "-p", str(pgb["port"]), "-U", pgb["user"], "pgbench"],
                   env={**os.environ, "PGPASSWORD": pgb["password"]}, check=True,
                   capture_output=True)
    print(f"{kind}: {info}", flush=True)
    return cluster, {"params": params, "pgbench": pgb, **info}


class Marker:
    """A session that runs ``pg_sleep`` the whole time: what 'first data' waits to see."""

    def __init__(self, params: dict[str, Any], app: str = "bench-marker") -> None:
        self.conn = psycopg.connect(**params, autocommit=True, application_name=app)
        self.pid = self.conn.info.backend_pid
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.conn.execute("SELECT pg_sleep(100000)")
        except psycopg.Error:
            pass

    def stop(self, admin: psycopg.Connection[Any]) -> None:
        admin.execute("SELECT pg_cancel_backend(%s)", (self.pid,))
        self.thread.join(10)
        self.conn.close()


SETTLE_MAX_S = 240.0
"""Longest wait for the machine to settle before a cluster's first window."""


def settle(admin: psycopg.Connection[Any], marker: Marker) -> dict[str, Any]:
    """Before the first window, the same state on both clusters: the load's writes
    checkpointed, the load average under 1, and the marker session past its first minute
    (its age then moves once a minute, as on the demo cluster, whose app timings run
    first). Each window's own ``load1`` is recorded beside it; ``young`` windows measure a
    session under a minute old on purpose."""
    t0 = time.monotonic()
    admin.execute("CHECKPOINT")
    while time.monotonic() - t0 < SETTLE_MAX_S and (
            load_average() >= 1.0 or time.monotonic() - marker.started < 65):
        time.sleep(2)
    return {"settle_s": round(time.monotonic() - t0, 1), "load1": load_average()}


def start_pgbench(pgb: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(find_server_bindir() / "pgbench"), "-n", "-c", "50", "-j", "2", "-T", "100000",
         "-h", pgb["host"], "-p", str(pgb["port"]), "-U", pgb["user"], "pgbench"],
        env={**os.environ, "PGPASSWORD": pgb["password"]}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


# -- one window -------------------------------------------------------------------------------
def client_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")}
    return {**keep, "HOME": str(home), "XDG_STATE_HOME": str(home / "state"),
            "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "PGPASSWORD": ROLE_PASSWORD, "TERM": "xterm-256color"}


def dsn(params: dict[str, Any], role: str) -> str:
    return (f"host={params['host']} port={params['port']} dbname={params['dbname']} "
            f"user={role}")


def ours_argv(args: argparse.Namespace, *rest: str) -> list[str]:
    return [sys.executable, "-m", "nchat_tui", *rest]


def clients_for(args: argparse.Namespace, params: dict[str, Any], size: tuple[int, int],
                home: Path, marker: int) -> dict[str, Client]:
    env = client_env(home)
    if args.ours_path:
        env["PYTHONPATH"] = args.ours_path
    pga = shutil.which("pg_activity", path=str(Path(sys.executable).parent)) or "pg_activity"
    return {
        "pg_activity": Client("pg_activity", [pga, "--refresh", "1",
                                              dsn(params, ROLES["pg_activity"])],
                              {**env, "PYTHONPATH": ""}, size, marker),
        "dashboard": Client("dashboard", ours_argv(args, "monitor", "--tui", "--interval", "1",
                                                   "--dsn", dsn(params, ROLES["dashboard"])),
                            env, size, marker),
        "headless": Client("headless", ours_argv(args, "monitor", "--json", "--interval", "1",
                                                 "--dsn", dsn(params, ROLES["headless"])),
                           env, size, marker),
    }


def server_cost(admin: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
    rows = admin.execute(
        "SELECT r.rolname, sum(s.total_exec_time + s.total_plan_time), max(s.calls), "
        "sum(s.calls) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        "WHERE r.rolname = ANY(%s) GROUP BY r.rolname", (list(ROLES.values()),)).fetchall()
    return {name: {"ms": float(ms), "refreshes": int(mx), "statements": int(n)}
            for name, ms, mx, n in rows}


def window(args: argparse.Namespace, info: dict[str, Any], admin: psycopg.Connection[Any],
           size: tuple[int, int], order: list[str], marker: Marker, home: Path) -> dict[str, Any]:
    clients = clients_for(args, info["params"], size, home, marker.pid)
    for name in order:
        clients[name].start()
    try:
        deadline = time.monotonic() + 30
        while not all(c.poll_first_data() for c in clients.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("no first data in 30 s: " + ", ".join(
                    f"{k}: {tmux('capture-pane', '-p', '-t', c.session, check=False)[-400:]}"
                    for k, c in clients.items() if c.first_data is None and k != "headless"))
            time.sleep(0.05)
        time.sleep(3)  # past the start-up: the window measures the steady state
        admin.execute("SELECT pg_stat_statements_reset()")
        cpu0 = {k: cpu_seconds(c.pid) for k, c in clients.items()}
        exact0 = {k: cpu_seconds_exact(c.pid) for k, c in clients.items()}
        t0 = time.monotonic()
        time.sleep(args.window)
        wall = time.monotonic() - t0
        cpu1 = {k: cpu_seconds(c.pid) for k, c in clients.items()}
        exact1 = {k: cpu_seconds_exact(c.pid) for k, c in clients.items()}
        rss = {k: rss_mib(c.pid) for k, c in clients.items()}
        cost = server_cost(admin)
        load = load_average()
    finally:
        for c in clients.values():
            c.stop()
    out: dict[str, Any] = {"size": f"{size[0]}x{size[1]}", "order": order, "load1": load,
                           "wall_s": round(wall, 1)}
    for k, c in clients.items():
        sc = cost.get(ROLES[k], {"ms": 0.0, "refreshes": 0, "statements": 0})
        out[k] = {"first_data_s": round(c.first_data or -1, 3),
                  "cpu_pct": round(100 * (exact1[k][0] - exact0[k][0]) / wall, 3),
                  "cpu_pct_ticks": round(100 * (cpu1[k] - cpu0[k]) / wall, 2),
                  "threads": [exact0[k][1], exact1[k][1]],
                  "rss_mib": round(rss[k], 1),
                  "server_ms_per_refresh": round(sc["ms"] / sc["refreshes"], 2)
                  if sc["refreshes"] else None,
                  "refreshes": sc["refreshes"],
                  "server_ms_per_s": round(sc["ms"] / wall, 2)}
    return out


def app_timings(args: argparse.Namespace, info: dict[str, Any], marker: Marker,
                home: Path, tries: int = 3) -> dict[str, Any]:
    """``nchat-tui``: its first screen, then ``m`` until the dashboard shows data."""
    env = client_env(home)
    if args.ours_path:
        env["PYTHONPATH"] = args.ours_path
    first, data = [], []
    for i in range(tries):
        app_home = home / f"app{i}"
        app_env = {**env, "XDG_STATE_HOME": str(app_home / "state")}
        c = Client("app", ours_argv(args, "--dsn", dsn(info["params"], ROLES["app"]), "app",
                                    "--new-session"), app_env, (80, 24), marker.pid)
        c.start()
        try:
            deadline = time.monotonic() + 30
            while "Pre-migration" not in tmux("capture-pane", "-p", "-t", c.session, check=False):
                if time.monotonic() > deadline:
                    raise RuntimeError("the app showed no home screen in 30 s")
                time.sleep(0.05)
            first.append(time.monotonic() - c.started)
            time.sleep(2)
            tmux("send-keys", "-t", c.session, "m")
            c.started = time.monotonic()
            deadline = time.monotonic() + 30
            while not c.poll_first_data():
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard showed no data in 30 s")
                time.sleep(0.05)
            data.append(c.first_data or -1.0)
        finally:
            c.stop()
    return {"first_screen_s": [round(x, 3) for x in first],
            "first_screen_median_s": round(statistics.median(first), 3),
            "key_to_data_s": [round(x, 3) for x in data],
            "key_to_data_median_s": round(statistics.median(data), 3)}


def run_cluster(kind: str, args: argparse.Namespace, base: Path,
                results: dict[str, Any]) -> None:
    cluster, info = setup_cluster(kind, base, args.tables)
    home = base / f"home-{kind}"
    home.mkdir()
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    out: dict[str, Any] = {k: v for k, v in info.items() if k not in ("params", "pgbench")}
    out["windows"] = []
    try:
        with psycopg.connect(**info["params"], autocommit=True) as admin:
            marker = Marker(info["params"])
            try:
                if kind == "demo" and not args.no_app:
                    out["app"] = app_timings(args, info, marker, home)
                    print(kind, "app", out["app"], flush=True)
                out["settled"] = settle(admin, marker)
                print(kind, "settled", out["settled"], flush=True)
                for load in args.loads.split(","):
                    bench = start_pgbench(info["pgbench"]) if load == "pgbench" else None
                    try:
                        if bench is not None:
                            time.sleep(5)  # let the 50 clients connect and settle
                        for rep in range(args.repeats):
                            for size in sizes:
                                n = len(out["windows"])
                                order = list(CLIENTS) if n % 2 == 0 else list(reversed(CLIENTS))
                                # young: one more active session, opened just now, whose
                                # age moves every second through the whole window
                                young = Marker(info["params"], "bench-young") \
                                    if load == "young" else None
                                try:
                                    w = window(args, info, admin, size, order, marker, home)  # type: ignore[arg-type]
                                finally:
                                    if young is not None:
                                        young.stop(admin)
                                w.update(load=load, repeat=rep)
                                out["windows"].append(w)
                                print(kind, json.dumps(w), flush=True)
                    finally:
                        if bench is not None:
                            bench.terminate()
                            bench.wait(30)
            finally:
                marker.stop(admin)
    finally:
        cluster.stop(mode="immediate")
    results[kind] = out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=40.0, help="seconds measured per window")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--tables", type=int, default=10000)
    ap.add_argument("--sizes", default="80x24,200x50")
    ap.add_argument("--loads", default="idle,young,pgbench",
                    help="idle; young (idle but one session under a minute old, its age "
                    "moving every second); pgbench (-c 50 on another database)")
    ap.add_argument("--clusters", default="demo,many")
    ap.add_argument("--no-app", action="store_true", help="skip the app's start-up timings")
    ap.add_argument("--ours-path", help="PYTHONPATH of another nchat-tui checkout to measure "
                    "(a 'before' run), instead of this one")
    ap.add_argument("--output", default="/tmp/nchat-bench-monitor.json")
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--from-json", metavar="FILE", help="write the doc from a saved result")
    ap.add_argument("--before", metavar="FILE", help="a saved result of the code before a "
                    "change (--ours-path run), summarised beside this one in the doc")
    args = ap.parse_args()
    before = json.loads(Path(args.before).read_text()) if args.before else None
    if args.from_json:
        write_doc(json.loads(Path(args.from_json).read_text()), before)
        return 0
    import importlib.metadata as md

    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}",
        "pg_activity": md.version("pg_activity"), "window_s": args.window,
        "repeats": args.repeats, "load_before": load_average()}
    base = Path(tempfile.mkdtemp(prefix="nchat-bench-monitor-", dir="/tmp"))
    os.chmod(base, 0o755)
    # one pane that lives for the whole run keeps the tmux server up between windows
    tmux("new-session", "-d", "-s", "mon-keeper", "sleep 100000")
    try:
        for kind in args.clusters.split(","):
            run_cluster(kind, args, base, results)
            Path(args.output).write_text(json.dumps(results, indent=2))
    finally:
        tmux("kill-server", check=False)
        shutil.rmtree(base, ignore_errors=True)
    results["load_after"] = load_average()
    Path(args.output).write_text(json.dumps(results, indent=2))
    if args.write_doc:
        write_doc(results, before)
    return 0


# -- the doc --------------------------------------------------------------------------------
def _median(ws: list[dict[str, Any]], client: str, key: str) -> float | None:
    vals = [w[client][key] for w in ws if w[client].get(key) is not None]
    return statistics.median(vals) if vals else None


def _measured(v: float | None) -> float:
    """A median the summary's table needs (every window measures it)."""
    assert v is not None, "a window without this measurement"
    return v


def _ticks_key(r: dict[str, Any]) -> str:
    """Where a run keeps its tick-sampled CPU: runs before the scheduler's figure was read
    have it (only) under ``cpu_pct``."""
    ws = [w for k in ("demo", "many") if r.get(k) for w in r[k]["windows"]]
    return "cpu_pct_ticks" if ws and "cpu_pct_ticks" in ws[0]["dashboard"] else "cpu_pct"


def _summary_rows(r: dict[str, Any], label: str) -> list[str]:
    rows = []
    ticks = _ticks_key(r)
    for kind in ("demo", "many"):
        c = r.get(kind)
        if not c:
            continue
        for load in ("idle", "young", "pgbench"):
            ws = [w for w in c["windows"] if w["load"] == load]
            if not ws:
                continue
            med = {cl: {k: _measured(_median(ws, cl, k))
                        for k in ("server_ms_per_refresh", ticks, "rss_mib", "first_data_s")}
                   for cl in CLIENTS}
            pga, dash = med["pg_activity"], med["dashboard"]
            exact = "-"
            if ticks != "cpu_pct":
                e = {cl: _measured(_median(ws, cl, "cpu_pct")) for cl in CLIENTS}
                exact = (f"{e['pg_activity']:.3f} / {e['dashboard']:.3f} / {e['headless']:.3f} "
                         f"({e['dashboard'] / e['pg_activity']:.2f})")
            rows.append(
                f"| {label} | {kind} | {load} | {pga['server_ms_per_refresh']:.1f} / "
                f"{dash['server_ms_per_refresh']:.1f} / {med['headless']['server_ms_per_refresh']:.1f}"
                f" | {dash['server_ms_per_refresh'] / pga['server_ms_per_refresh']:.2f} | "
                f"{exact} | {pga[ticks]:.2f} / {dash[ticks]:.2f} / {med['headless'][ticks]:.2f} "
                f"({dash[ticks] / pga[ticks]:.2f}) | {dash['rss_mib'] - pga['rss_mib']:+.1f} | "
                f"{pga['first_data_s']:.2f} / "
                f"{dash['first_data_s']:.2f} |")
    return rows


def write_doc(r: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    lines = [
        "## Monitor",
        "",
        f"Measured by `bench/bench_monitor.py` on {r['date']} ({r['machine']}), PostgreSQL 15, "
        f"against the real pg_activity {r['pg_activity']} (from PyPI, the `bench` dependency "
        "group), one throwaway cluster per database size (pg_activity sums the size of every "
        "database of its cluster on each refresh, so sharing a cluster would charge one "
        "database's size to the other), `pg_stat_statements.track_planning = on`. In each "
        f"window of {r['window_s']:.0f} s the three clients run at the same time at a 1 s "
        "refresh, each as its own superuser role over TCP on 127.0.0.1, start order "
        "alternating between windows: pg_activity and our dashboard (`nchat-tui monitor "
        "--tui`) each in a tmux pane of the window's size, and our headless sampler "
        "(`nchat-tui monitor --json`). *Server ms per refresh*: the role's summed execution "
        "and planning time in pg_stat_statements (reset at the window's start) divided by its "
        "refreshes. *CPU*: the time the client's threads spent on a CPU over the window, as "
        "the scheduler counts it in nanoseconds (`/proc/PID/task/*/schedstat`), in % of one "
        "core; *ticks*: utime + stime (/proc/PID/stat, what the earlier runs of this bench "
        "measured), which the kernel samples at the 10 ms clock tick: a client working about "
        "3 ms a second is charged in whole ticks, so a 40 s window reads it to 0.025 % of a "
        "core, the size of the differences measured here. *RSS* at the window's end. "
        "*First data*: from the process start until a session that was already running "
        "shows on its screen (or the first JSON line). Loads: *idle*, the cluster's own "
        "background work and one session running `pg_sleep` (the marker); *young*, idle "
        "plus one more such session opened just before the window, so that its age moves "
        "every second throughout (what a short query in progress costs a monitor to draw); "
        "*pgbench*, `pgbench -c 50 -j 2` on another database of the same cluster. Before "
        "its first window each cluster settles the same way: a CHECKPOINT after the load, "
        "then a wait (at most 4 minutes) until the load average is under 1 and the marker "
        "is over a minute old.",
        "",
    ]
    for kind, title in (("demo", "Demo database"), ("many", "Many tables")):
        c = r.get(kind)
        if not c:
            continue
        settled = (f" Settled for {c['settled']['settle_s']:.0f} s before the first window "
                   f"(load average then {c['settled']['load1']:.1f})." if c.get("settled")
                   else "")
        lines += [f"### {title} ({c['tables']:,} tables, {c['bytes'] / 1024 ** 2:.0f} MiB)", "",
                  *([settled.strip(), ""] if settled else []),
                  "| load | terminal | client | server ms / refresh | refreshes | CPU % | "
                  "CPU % (ticks) | RSS MiB | first data s | load avg |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for w in c["windows"]:
            for client in ("pg_activity", "dashboard", "headless"):
                m = w[client]
                srv = m["server_ms_per_refresh"]
                lines.append(
                    f"| {w['load']} | {w['size']} | {client} | "
                    f"{srv:.2f} | {m['refreshes']} | " if srv is not None else
                    f"| {w['load']} | {w['size']} | {client} | - | 0 | ")
                cpu = (f"{m['cpu_pct']:.3f} | {m['cpu_pct_ticks']:.2f}" if "cpu_pct_ticks" in m
                       else f"- | {m['cpu_pct']:.2f}")
                lines[-1] += (f"{cpu} | {m['rss_mib']:.0f} | "
                              f"{m['first_data_s']:.2f} | {w['load1']:.1f} |")
        lines.append("")
        lines += ["Medians over the windows above, and our share of pg_activity's:", "",
                  "| load | measure | pg_activity | dashboard | headless | dashboard / "
                  "pg_activity |", "|---|---|---|---|---|---|"]
        for load in sorted({w["load"] for w in c["windows"]}, key=["idle", "young", "pgbench"].index):
            ws = [w for w in c["windows"] if w["load"] == load]
            cpus = ((("cpu_pct", "client CPU %"), ("cpu_pct_ticks", "client CPU % (ticks)"))
                    if _ticks_key(r) != "cpu_pct" else (("cpu_pct", "client CPU % (ticks)"),))
            for key, label in (("server_ms_per_refresh", "server ms / refresh"), *cpus,
                               ("rss_mib", "RSS MiB"), ("first_data_s", "first data s")):
                vals = {cl: _median(ws, cl, key) for cl in CLIENTS}
                ratio = (f"{vals['dashboard'] / vals['pg_activity']:.2f}"
                         if vals["dashboard"] is not None and vals["pg_activity"] else "-")
                if key == "rss_mib" and vals["dashboard"] is not None and vals["pg_activity"]:
                    ratio = f"{vals['dashboard'] - vals['pg_activity']:+.1f} MiB"
                digits = 3 if key == "cpu_pct" and len(cpus) == 2 else 2
                lines.append(f"| {load} | {label} | " + " | ".join(
                    f"{v:.{digits}f}" if v is not None else "-" for v in vals.values())
                    + f" | {ratio} |")
        lines.append("")
        if c.get("app"):
            a = c["app"]
            lines += [f"The app on this database (idle, 80x24, {len(a['first_screen_s'])} "
                      "tries): first screen after start "
                      f"{a['first_screen_median_s']:.2f} s (median of "
                      f"{', '.join(f'{x:.2f}' for x in a['first_screen_s'])}); `m` to dashboard "
                      f"data {a['key_to_data_median_s']:.2f} s (median of "
                      f"{', '.join(f'{x:.2f}' for x in a['key_to_data_s'])}).", ""]
    lines += ["### Summary (medians; pg_activity / dashboard / headless)", "",
              "| run | database | load | server ms / refresh | dashboard / pg_activity | "
              "client CPU % (dashboard / pg_activity in brackets) | client CPU % (ticks) | "
              "dashboard RSS - pg_activity's | first data s (pga / dash) |",
              "|---|---|---|---|---|---|---|---|---|",
              *(_summary_rows(before, f"before ({before['date']})") if before else []),
              *_summary_rows(r, f"this run ({r['date']})"), ""]
    loads = [w["load1"] for k in ("demo", "many") if r.get(k) for w in r[k]["windows"]]
    if loads:
        lines += [f"Load average (1 min) at the end of the windows: {min(loads):.1f} to "
                  f"{max(loads):.1f} (before the run {r['load_before']:.1f}, after "
                  f"{r.get('load_after', float('nan')):.1f}); the machine is shared with other "
                  "work, which is why the clients run in the same windows and the comparison is "
                  "read as ratios.", ""]
    if r.get("notes"):
        lines += [*r["notes"], ""]
    import textwrap

    section = "\n".join(textwrap.fill(line, 100, break_on_hyphens=False)
                        if len(line) > 100 and not line.startswith(("|", "-")) else line
                        for line in lines)
    doc = REPO / "docs" / "PERFORMANCE.md"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    start = text.find("## Monitor")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[nxt + 1:] if nxt != -1 else "")
    doc.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.exit(main())
