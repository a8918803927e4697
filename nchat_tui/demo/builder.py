"""The embedded demo: a local PostgreSQL holding a realistic nChat v0.3.0 database.

``ensure_demo()`` creates (or reuses) a cluster this tool owns, in the user's data dir, and
loads database ``nchat`` into it: migrations 001-012 applied and recorded in the nself Go
CLI's ledger (``np_common.schema_versions`` + ``nself_ops.migrations`` with the real sha256
of each file), realistic data from ``sql/demo/seed_data.sql``, and the four v0.4.0
migrations 013-016 left pending in ``sql/demo/migrations``. ``load_demo()`` does the
loading part on any empty database (the tests use it at small scales). ``Workload`` plays a
few app users against it so that the live figures move.

It never touches a cluster or database it did not create (the demo cluster lives in its own
data directory and listens on 127.0.0.1 and its own socket), never prints the password
(it lives in a 0600 file in the demo dir), and never imports Textual.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import platformdirs
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from nchat_tui.errors import BadInput, OperationFailed
from nchat_tui.pg.cluster import ClusterError, LocalCluster, free_port, running_as_root
from nchat_tui.pg.queries import sql_path, sql_template, sql_text
from nchat_tui.pg.target import mask_dsn

DEMO_DB = "nchat"
LOADING_DB = "nchat_demo_loading"
APPLIED_UPTO = 12  # 001..012 are applied in the demo; 013..016 stay pending
APP_NAME = "nchat-demo-app"
ROOT_DEMO_DIR = Path("/var/lib/nchat-tui/demo")
MAX_SOCKET_DIR = 80  # a unix socket path (dir + "/.s.PGSQL.NNNNN") must stay under ~107 bytes
ProgressFn = Callable[[str], None]

# When the demo's migrations were "applied" (days before the load): the initial deploy ran
# 001-010 together, 011 and 012 came with later releases of the v0.3 line.
_APPLIED_DAYS_AGO = {11: 120, 12: 45}
_INITIAL_DEPLOY_DAYS_AGO = 240

_COUNTED_TABLES = (
    "nchat_users", "nchat_channels", "nchat_channel_members", "nchat_messages",
    "nchat_threads", "nchat_reactions", "nchat_attachments", "nchat_notifications",
)


# -- where the demo lives ---------------------------------------------------------------------
def demo_paths() -> tuple[Path, Path]:
    """``(demo_dir, socket_dir)``: where the demo keeps its files, and the server's socket.

    ``NCHAT_TUI_DEMO_DIR`` wins; as root ``/var/lib/nchat-tui/demo`` (root's home is 0700
    and the server runs as the ``postgres`` OS user); else the user's data dir. The
    cluster's data directory is ``demo_dir / "pgdata"``. The socket dir is ``demo_dir/run``
    unless that path is too long for a unix socket, then a short one under /tmp.
    """
    env = os.environ.get("NCHAT_TUI_DEMO_DIR")
    if env:
        demo_dir = Path(env).expanduser().absolute()
    elif running_as_root():
        demo_dir = ROOT_DEMO_DIR
    else:
        demo_dir = Path(platformdirs.user_data_dir("nchat-tui", appauthor=False)) / "demo"
    sock = demo_dir / "run"
    if len(str(sock)) > MAX_SOCKET_DIR:
        tag = hashlib.sha256(str(demo_dir).encode()).hexdigest()[:8]
        sock = Path("/tmp") / f"nchat-tui-{os.getuid() if hasattr(os, 'getuid') else 0}-{tag}"
    return demo_dir, sock


# -- what a caller gets -------------------------------------------------------------------------
@dataclass
class LoadReport:
    """What ``load_demo`` did: files applied, seconds per phase, rows per main table."""

    applied: list[str]
    timings: dict[str, float]
    counts: dict[str, int]
    scale: float


@dataclass
class DemoInfo:
    """A ready demo: how to reach it over TCP (as a real deployment), and its files.

    ``password`` is for in-process use only: never print it (``public()`` leaves it out).
    """

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    demo_dir: Path
    socket_dir: Path
    password_file: Path
    backup_dir: Path
    migrations_dir: Path
    scale: float
    built: bool
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def conninfo_params(self) -> dict[str, str]:
        return {"host": self.host, "port": str(self.port), "user": self.user,
                "password": self.password, "dbname": self.dbname}

    def dsn(self) -> str:
        """A libpq conninfo string WITH the password: pass it in-process, never show it."""
        return make_conninfo(**self.conninfo_params())

    def masked(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def public(self) -> dict[str, Any]:
        """Everything worth showing, without the password."""
        return {
            "host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
            "password": f"see {self.password_file}",
            "dsn_env": (f"PGHOST={self.host} PGPORT={self.port} PGUSER={self.user} "
                        f"PGDATABASE={self.dbname} PGPASSWORD=\"$(cat {self.password_file})\""),
            "demo_dir": str(self.demo_dir), "socket_dir": str(self.socket_dir),
            "backup_dir": str(self.backup_dir), "migrations_dir": str(self.migrations_dir),
            "scale": self.scale, "built": self.built,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "counts": self.counts,
        }


# -- migration files ----------------------------------------------------------------------------
def default_migrations_dir() -> Path:
    return sql_path("demo/migrations")


def _version(path: Path) -> int:
    m = re.match(r"(\d+)_", path.name)
    return int(m.group(1)) if m else -1


def up_files(migrations_dir: Path) -> list[Path]:
    """The up migrations of ``migrations_dir`` in numeric order (``.down.sql`` excluded)."""
    files = [p for p in migrations_dir.glob("*.sql")
             if not p.name.endswith(".down.sql") and _version(p) >= 0]
    return sorted(files, key=lambda p: (_version(p), p.name))


def demo_fingerprint() -> str:
    """A digest of every SQL file a demo build runs: a reused demo built from other files
    (an older nchat-tui) is rebuilt, since its ledger checksums would no longer match."""
    h = hashlib.sha256()
    for name in ("demo/platform.sql", "demo/ledger.sql", "demo/seed_data.sql"):
        h.update(sql_path(name).read_bytes())
    for p in up_files(default_migrations_dir()):
        if _version(p) <= APPLIED_UPTO:
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def file_checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- loading ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _connection(target: Any) -> Iterator[psycopg.Connection[Any]]:
    """Use a given connection as is, or open one from conninfo params / a conninfo string."""
    if isinstance(target, psycopg.Connection):
        yield target
        return
    if isinstance(target, Mapping):
        conninfo = make_conninfo(**{k: str(v) for k, v in target.items() if v is not None})
    elif isinstance(target, str):
        conninfo = target
    else:
        raise BadInput(f"load_demo needs conninfo params, a conninfo string or a connection, "
                       f"not {type(target).__name__}")
    with psycopg.connect(conninfo, autocommit=True, application_name="nchat-tui-demo") as conn:
        yield conn


def load_demo(conninfo_params: Any, scale: float = 1.0, migrations_dir: Path | None = None,
              progress: ProgressFn | None = None, seed_lanes: int = 2) -> LoadReport:
    """Load the demo nChat v0.3.0 database into an EMPTY database.

    ``conninfo_params``: a dict of libpq parameters, a conninfo string, or an open psycopg
    connection; the role must be a superuser (the seed switches triggers off for speed).
    Applies ``sql/demo/platform.sql`` (auth/storage/hdb_catalog as the nself services
    create them), the Go CLI ledger, migrations 001-012 of ``migrations_dir`` (each in its
    own transaction, recorded with its sha256 and real duration, as ``nself db migrate up``
    does), then the seed data at ``scale`` (1.0: 5,000 users, 300 channels, 300,000
    messages; 0.02 loads in about a second). The seed runs in ``seed_lanes`` sessions at
    once (two cores: two lanes), each statement in its own transaction; a connection that
    is not in autocommit mode gets one lane, and its caller commits.
    """
    if scale <= 0 or scale > 20:
        raise BadInput(f"scale must be in (0, 20], not {scale}")
    mdir = Path(migrations_dir) if migrations_dir else default_migrations_dir()
    files = [p for p in up_files(mdir) if 1 <= _version(p) <= APPLIED_UPTO]
    if [_version(p) for p in files] != list(range(1, APPLIED_UPTO + 1)):
        raise OperationFailed(f"{mdir} does not hold migrations 001..{APPLIED_UPTO:03d}")
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    t_all = time.monotonic()
    with _connection(conninfo_params) as conn:
        row = conn.execute(sql_text("demo/admin/nchat_tables_present.sql")).fetchone()
        if row and row[0]:
            raise OperationFailed("the database already holds nChat tables: load_demo needs an "
                                  "empty database")
        # A demo load needs no durability per commit (a crash means a rebuild anyway).
        conn.execute("SET synchronous_commit = off")
        t = time.monotonic()
        with conn.transaction():
            conn.execute(sql_text("demo/platform.sql"))
            conn.execute(sql_text("demo/ledger.sql"))
        timings["platform"] = time.monotonic() - t

        say(f"applying migrations 001-{APPLIED_UPTO:03d}")
        t = time.monotonic()
        now = datetime.now(UTC)
        applied: list[str] = []
        for i, path in enumerate(files):
            text = path.read_text(encoding="utf-8")
            t1 = time.monotonic()
            with conn.transaction():
                conn.execute(text)
                duration_ms = int((time.monotonic() - t1) * 1000)
                v = _version(path)
                days = _APPLIED_DAYS_AGO.get(v, _INITIAL_DEPLOY_DAYS_AGO)
                applied_at = now - timedelta(days=days) + timedelta(seconds=2 * i)
                conn.execute(sql_text("demo/admin/record_np_common.sql"),
                             {"name": path.name, "applied_at": applied_at})
                conn.execute(sql_text("demo/admin/record_nself_ops.sql"), {
                    "id": path.name.split("_", 1)[0], "name": path.name,
                    "checksum": file_checksum(path), "applied_at": applied_at,
                    "applied_by": "postgres", "duration_ms": duration_ms})
            applied.append(path.name)
        timings["migrations"] = time.monotonic() - t

        say(f"generating data (scale {scale:g})")
        t = time.monotonic()
        lanes = [conn]
        # A second session needs to see the first one's commits: only in autocommit mode
        # (inside a caller's open transaction the two lanes would wait for each other).
        if seed_lanes > 1 and conn.autocommit:
            with contextlib.suppress(psycopg.Error):
                lanes.append(_second_connection(conn))
        try:
            phase_times = run_seed(lanes, sql_text("demo/seed_data.sql"), scale)
        finally:
            for extra in lanes[1:]:
                extra.close()
        timings["data"] = time.monotonic() - t
        timings.update({f"data_{k}": v for k, v in phase_times.items()})
        counts = table_counts(conn)
        conn.execute("RESET synchronous_commit")
    timings["total"] = time.monotonic() - t_all
    return LoadReport(applied=applied, timings=timings, counts=counts, scale=scale)


def _second_connection(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    params = {k: v for k, v in conn.info.get_parameters().items() if v}
    if conn.info.password:
        params["password"] = conn.info.password
    return psycopg.connect(make_conninfo(**params), autocommit=True,
                           application_name="nchat-tui-demo")


@dataclass
class _Statement:
    sql: str
    lane: int | None  # None: every lane


@dataclass
class _Phase:
    name: str
    statements: list[_Statement] = field(default_factory=list)


_PHASE_RE = re.compile(r"^-- @phase (\w+) (each-lane|lane-(\d+))\s*$")
_LANE_RE = re.compile(r"^-- @(?:lane (\d+)|(each-lane))\s*$")


def parse_seed(text: str) -> list[_Phase]:
    """Split the seed file into phases of statements with their lane (see its header)."""
    chunks: list[str] = []
    cur = ""
    for piece in re.split(r"(?<=;)\n", text):
        cur += piece + "\n"
        if cur.count("$$") % 2 == 0:
            chunks.append(cur)
            cur = ""
    if cur.strip():
        chunks.append(cur)
    phases = [_Phase("start")]
    default: int | None = 0
    for chunk in chunks:
        lane: int | None = default
        body: list[str] = []
        for line in chunk.splitlines():
            m = _PHASE_RE.match(line)
            if m:
                phases.append(_Phase(m.group(1)))
                default = None if m.group(2) == "each-lane" else int(m.group(3))
                lane = default
                continue
            m = _LANE_RE.match(line)
            if m:
                lane = None if m.group(2) else int(m.group(1))
                continue
            body.append(line)
        sql_only = "\n".join(body).strip()
        if any(ln.strip() and not ln.strip().startswith("--") for ln in body):
            phases[-1].statements.append(_Statement(sql_only, lane))
    return [p for p in phases if p.statements]


def _run_lane(conns: list[psycopg.Connection[Any]], k: int, statements: list[str],
              errors: list[BaseException]) -> None:
    """Run one lane's statements in order; on an error, cancel the other lanes."""
    try:
        for stmt in statements:
            if errors:
                return
            conns[k].execute(stmt)
    except BaseException as exc:
        errors.append(exc)
        for other in conns:
            if other is not conns[k]:
                with contextlib.suppress(Exception):
                    other.cancel()


def run_seed(conns: list[psycopg.Connection[Any]], text: str, scale: float) -> dict[str, float]:
    """Run the seed file on one or more autocommit sessions (lanes), phase by phase."""
    lanes = len(conns)
    for k, c in enumerate(conns):
        c.execute(sql_text("demo/admin/seed_settings.sql"),
                  {"scale": repr(float(scale)), "lane": str(k), "lanes": str(lanes)})
    timings: dict[str, float] = {}
    try:
        for phase in parse_seed(text):
            t = time.monotonic()
            work = [[s.sql for s in phase.statements if s.lane is None or s.lane % lanes == k]
                    for k in range(lanes)]
            errors: list[BaseException] = []
            threads = [threading.Thread(target=_run_lane, args=(conns, k, w, errors), daemon=True)
                       for k, w in enumerate(work) if k > 0 and w]
            for th in threads:
                th.start()
            _run_lane(conns, 0, work[0], errors)
            for th in threads:
                th.join()
            if errors:
                raise errors[0]
            timings[phase.name] = time.monotonic() - t
    finally:
        for c in conns:
            with contextlib.suppress(psycopg.Error):
                c.execute("RESET nchat_demo.scale; RESET nchat_demo.lane; RESET nchat_demo.lanes")
    return timings


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row counts of the main nchat tables (as the connected role: use a superuser)."""
    arm = sql_template("demo/admin/count_rows.sql")
    parts = sql.SQL(" UNION ALL ").join(
        arm.format(name=sql.Literal(t), table=sql.Identifier("public", t))
        for t in _COUNTED_TABLES)
    got = {str(r[0]): int(r[1]) for r in conn.execute(parts).fetchall()}
    return {t: got[t] for t in _COUNTED_TABLES}


# -- the demo cluster ---------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created 0600, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _port_free(port: int) -> bool:
    """Can the server listen on ``port``? Checked as PostgreSQL binds (SO_REUSEADDR), so the
    TIME_WAIT connections a just-stopped demo leaves do not move it to another port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cluster(demo_dir: Path, sock_dir: Path, port: int, password: str) -> LocalCluster:
    return LocalCluster(datadir=demo_dir / "pgdata", sockdir=sock_dir, port=port,
                        password=password)


def _prepare_demo_dir(demo_dir: Path) -> None:
    demo_dir.mkdir(parents=True, exist_ok=True)
    # The server (the postgres OS user when we are root) must reach pgdata inside it.
    os.chmod(demo_dir, 0o755 if running_as_root() else 0o700)
    if running_as_root():
        for parent in demo_dir.parents:
            if str(parent) in ("/", ""):
                break
            if not parent.stat().st_mode & 0o001:
                raise OperationFailed(
                    f"{parent} is not enterable by the postgres user",
                    "set NCHAT_TUI_DEMO_DIR to a directory outside it")


def _ensure_socket_dir(sock_dir: Path) -> None:
    sock_dir.mkdir(parents=True, exist_ok=True)
    if running_as_root():
        shutil.chown(sock_dir, "postgres", "postgres")
    os.chmod(sock_dir, 0o755)


def stop_demo(progress: ProgressFn | None = None) -> bool:
    """Stop the demo server if it runs. True when a server was stopped."""
    demo_dir, sock_dir = demo_paths()
    if not (demo_dir / "pgdata" / "PG_VERSION").exists():
        return False
    state = _read_json(demo_dir / "demo.json")
    cluster = _cluster(demo_dir, sock_dir, int(state.get("port") or 0), "unused")
    if not cluster.is_running():
        return False
    if progress:
        progress("stopping the demo server")
    cluster.stop()
    return True


def ensure_demo(fresh: bool = False, scale: float = 1.0,
                progress: ProgressFn | None = None) -> DemoInfo:
    """Create or reuse the demo cluster, start it, and make sure database ``nchat`` is loaded.

    A reused, loaded demo only starts (about a second); the first build initialises the
    cluster and loads the data. ``fresh`` stops the server and rebuilds from nothing. The
    data is loaded into a scratch database that is renamed to ``nchat`` only when complete,
    so an interrupted build is rebuilt next time instead of being taken for a demo.
    """
    demo_dir, _sock = demo_paths()
    demo_dir.mkdir(parents=True, exist_ok=True)
    # Two `nchat-tui demo` at once would race on initdb, the port and the load: serialise.
    with open(demo_dir / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress("another nchat-tui demo is preparing the demo: waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_demo_locked(fresh, scale, progress)


def _ensure_demo_locked(fresh: bool, scale: float, progress: ProgressFn | None) -> DemoInfo:
    say = progress or (lambda _msg: None)
    t_all = time.monotonic()
    timings: dict[str, float] = {}
    demo_dir, sock_dir = demo_paths()
    state_file = demo_dir / "demo.json"
    pw_file = demo_dir / "password"

    if fresh and demo_dir.exists():
        t = time.monotonic()
        say(f"removing the old demo in {demo_dir}")
        old = _read_json(state_file)
        with contextlib.suppress(ClusterError, OSError):
            _cluster(demo_dir, sock_dir, int(old.get("port") or 0), "unused").stop(mode="fast")
        shutil.rmtree(demo_dir / "pgdata", ignore_errors=True)
        for f in (state_file, pw_file):
            f.unlink(missing_ok=True)
        timings["remove_old"] = time.monotonic() - t
    _prepare_demo_dir(demo_dir)
    (demo_dir / "backups").mkdir(exist_ok=True)
    os.chmod(demo_dir / "backups", 0o700)

    state = _read_json(state_file)
    had_cluster = (demo_dir / "pgdata" / "PG_VERSION").exists()
    if pw_file.exists() and had_cluster:
        password = pw_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(24)
        _write_private(pw_file, password + "\n")
    port = int(state.get("port") or 0)
    cluster = _cluster(demo_dir, sock_dir, port, password)

    try:
        if not cluster.initialised:
            say(f"creating a PostgreSQL cluster in {demo_dir / 'pgdata'}")
            t = time.monotonic()
            cluster.init()
            timings["init"] = time.monotonic() - t
        running = cluster.is_running()
        if not running:
            _ensure_socket_dir(sock_dir)  # a /tmp fallback may have been cleaned since
        if not running and (not port or not _port_free(port)):
            port = free_port()
            cluster.port = port
        t = time.monotonic()
        if not running:
            say(f"starting the demo server on 127.0.0.1:{cluster.port}")
        cluster.start()
        timings["start"] = time.monotonic() - t
    except ClusterError as exc:
        raise OperationFailed(f"the demo server did not start: {exc}",
                              f"see {sock_dir / 'server.log'}; `nchat-tui demo --fresh` "
                              "rebuilds it") from None
    state.update({"port": cluster.port, "socket_dir": str(sock_dir)})
    _write_private(state_file, json.dumps(state, indent=2))
    admin = cluster.socket_conninfo("postgres")
    if had_cluster and not _password_works(cluster):
        say("the demo password file was lost: setting a new password")
        _set_password(admin, cluster.superuser, password)

    built = False
    counts: dict[str, int] = {}
    with _admin_connect(admin) as conn:
        exists = conn.execute(sql_text("demo/admin/database_exists.sql"),
                              {"name": DEMO_DB}).fetchone() is not None
    loaded = exists and _is_loaded(cluster)
    fingerprint = demo_fingerprint()
    if loaded and state.get("fingerprint") not in (None, fingerprint):
        say(f"the demo's SQL changed since database {DEMO_DB} was built: rebuilding it "
            "(whatever was migrated in it is dropped)")
        loaded = False
    if not loaded:
        t = time.monotonic()
        with _admin_connect(admin) as conn:
            drop = sql_template("backup/drop_scratch_database.sql")
            conn.execute(drop.format(name=sql.Identifier(LOADING_DB)))
            if exists:
                say(f"dropping the old database {DEMO_DB}")
                conn.execute(drop.format(name=sql.Identifier(DEMO_DB)))
            conn.execute(sql_template("demo/admin/create_database.sql").format(
                name=sql.Identifier(LOADING_DB)))
        timings["create_database"] = time.monotonic() - t
        report = load_demo(cluster.socket_conninfo(LOADING_DB), scale=scale, progress=say)
        with _admin_connect(admin) as conn:
            conn.execute(sql_template("demo/admin/rename_database.sql").format(
                name=sql.Identifier(LOADING_DB), new_name=sql.Identifier(DEMO_DB)))
        timings.update({f"load_{k}": v for k, v in report.timings.items()})
        counts = report.counts
        state.update({"scale": scale, "loaded_at": datetime.now(UTC).isoformat(),
                      "fingerprint": fingerprint, "counts": counts,
                      "load_timings": report.timings})
        _write_private(state_file, json.dumps(state, indent=2))
        built = True
    else:
        counts = dict(state.get("counts") or {})
        if fresh is False and state.get("scale") not in (None, scale):
            say(f"note: this demo was built at scale {state.get('scale')}; "
                "use --fresh to rebuild it at another scale")
    timings["total"] = time.monotonic() - t_all
    return DemoInfo(
        host="127.0.0.1", port=cluster.port, user=cluster.superuser, password=password,
        dbname=DEMO_DB, demo_dir=demo_dir, socket_dir=sock_dir, password_file=pw_file,
        backup_dir=demo_dir / "backups", migrations_dir=default_migrations_dir(),
        scale=float(state.get("scale") or scale), built=built, timings=timings, counts=counts)


def _password_works(cluster: LocalCluster) -> bool:
    try:
        with psycopg.connect(make_conninfo(**cluster.tcp_conninfo("postgres")),
                             connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


def _set_password(admin: Mapping[str, str], user: str, password: str) -> None:
    """Set ``user``'s password over the trusted socket, sending only its SCRAM verifier
    (a plain ALTER ROLE ... PASSWORD would leave the password in pg_stat_statements)."""
    with _admin_connect(admin) as conn:
        verifier = conn.pgconn.encrypt_password(password.encode(), user.encode(),
                                                b"scram-sha-256")
        conn.execute(sql_template("demo/admin/set_password.sql").format(
            role=sql.Identifier(user), verifier=sql.Literal(verifier.decode())))


def _admin_connect(params: Mapping[str, str]) -> psycopg.Connection[Any]:
    return psycopg.connect(make_conninfo(**params), autocommit=True,
                           application_name="nchat-tui-demo")


def _is_loaded(cluster: LocalCluster) -> bool:
    """The demo database holds the nChat tables and a Go CLI ledger (whatever was run since)."""
    try:
        with _admin_connect(cluster.socket_conninfo(DEMO_DB)) as conn:
            row = conn.execute(sql_text("demo/admin/demo_loaded.sql")).fetchone()
            return bool(row and row[0])
    except psycopg.Error:
        return False


# -- the background workload --------------------------------------------------------------------
_LINES = (
    "Deploy to staging is done", "Can someone review my PR?", "Standup in 5",
    "Looks like the login page is slow again", "Thanks for the quick fix!",
    "Who owns the billing webhook?", "Release notes are up", "Lunch?",
    "The flaky test is back", "Pushing a hotfix now", "LGTM", "On it",
    "Did the nightly backup finish?", "Reminder: retro at 3pm", "Shipping it 🚀",
)
_EMOJIS = ("👍", "❤️", "😂", "🎉", "👀", "🚀", "✅", "🙏")
_SEARCH_TERMS = ("deploy pipeline failing", "billing webhook", "postgres upgrade plan",
                 "flaky test in ci", "release notes", "login page slow")


@functools.cache
def _app_sql(name: str) -> str:
    """A workload query as the app would send it: without the file's header comment, so
    that pg_stat_activity and pg_stat_statements show the SQL itself."""
    lines = sql_text(name).splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


@dataclass
class WorkloadStats:
    """Counters of a running (or finished) workload."""

    running: bool
    seconds: float
    queries: int
    errors: int
    messages_posted: int
    reactions_added: int
    reads: int
    slow_queries: int
    reconnects: int
    last_error: str | None


class Workload:
    """A light, bounded app workload against the demo: a few simulated clients.

    ``writers`` threads post messages and add reactions, ``readers`` threads open
    channels and compute unread badges, and one thread runs the slow fuzzy search every
    ``slow_every`` seconds (a few seconds each at scale 1.0). Each thread has its own
    connection (``application_name`` nchat-demo-app) with a statement timeout, so a
    migration's lock makes it wait, then fail and retry: every error is swallowed and
    counted, a lost connection is reopened with back-off, and the whole thing stops by
    itself after ``duration`` seconds. About ``rate`` operations per second per thread.
    """

    def __init__(self, conninfo_params: Mapping[str, Any], *, writers: int = 2,
                 readers: int = 1, rate: float = 1.0, slow_every: float = 90.0,
                 duration: float = 4 * 3600.0, statement_timeout_ms: int = 30_000,
                 seed: int | None = None) -> None:
        self._params = {k: str(v) for k, v in conninfo_params.items() if v is not None}
        self.writers, self.readers = writers, readers
        self.rate = max(rate, 0.05)
        self.slow_every = slow_every
        self.duration = duration
        self.statement_timeout_ms = statement_timeout_ms
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: set[psycopg.Connection[Any]] = set()
        self._started_at = 0.0
        self._counts = {"queries": 0, "errors": 0, "messages_posted": 0, "reactions_added": 0,
                        "reads": 0, "slow_queries": 0, "reconnects": 0}
        self._last_error: str | None = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._started_at = time.monotonic()
        roles = (["writer"] * self.writers + ["reader"] * self.readers
                 + (["slow"] if self.slow_every > 0 else []))
        self._threads = []
        for i, role in enumerate(roles):
            th = threading.Thread(target=self._run, args=(role, self._rng.random() + i),
                                  name=f"nchat-demo-{role}-{i}", daemon=True)
            self._threads.append(th)
            th.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every thread: cancel running queries, close connections, join."""
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.cancel()
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        return any(th.is_alive() for th in self._threads)

    def stats(self) -> WorkloadStats:
        with self._lock:
            c = dict(self._counts)
            last = self._last_error
        secs = time.monotonic() - self._started_at if self._started_at else 0.0
        return WorkloadStats(running=self.running, seconds=secs, last_error=last, **c)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.stats())

    # -- internals --------------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _error(self, exc: BaseException) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        with self._lock:
            self._counts["errors"] += 1
            self._last_error = mask_dsn(f"{type(exc).__name__}: {first}")[:300]

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopped or out of time; True when the thread should go on."""
        if self._stop.wait(max(0.0, seconds)):
            return False
        return time.monotonic() - self._started_at < self.duration

    def _connect(self) -> psycopg.Connection[Any]:
        params = {**self._params, "application_name": APP_NAME, "connect_timeout": "5",
                  "options": f"-c statement_timeout={self.statement_timeout_ms} "
                             "-c lock_timeout=10000"}
        conn = psycopg.connect(make_conninfo(**params), autocommit=True)
        with self._lock:
            self._conns.add(conn)
        return conn

    def _close(self, conn: psycopg.Connection[Any] | None) -> None:
        if conn is None:
            return
        with self._lock:
            self._conns.discard(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def _run(self, role: str, seed: float) -> None:
        rng = random.Random(seed)
        conn: psycopg.Connection[Any] | None = None
        pairs: list[tuple[Any, Any]] = []
        backoff = 1.0
        next_slow = time.monotonic() + (self.slow_every * rng.uniform(0.3, 0.7)
                                        if role == "slow" else 0.0)
        try:
            while not self._stop.is_set() and time.monotonic() - self._started_at < self.duration:
                try:
                    if conn is None or conn.closed:
                        if conn is not None:
                            self._close(conn)
                            self._count("reconnects")
                        conn = self._connect()
                        pairs = []
                        backoff = 1.0
                    if not pairs and role != "slow":  # again after a reconnect or a restore
                        pairs = [tuple(r) for r in conn.execute(
                            _app_sql("demo/workload/sample_members.sql"),
                            {"limit": 300}).fetchall()]
                        self._count("queries")
                    if role == "slow":
                        if time.monotonic() >= next_slow:
                            conn.execute(_app_sql("demo/workload/fuzzy_search.sql"),
                                         {"term": rng.choice(_SEARCH_TERMS)}).fetchall()
                            self._count("queries")
                            self._count("slow_queries")
                            next_slow = time.monotonic() + self.slow_every * rng.uniform(0.8, 1.2)
                        if not self._wait(min(1.0, max(0.05, next_slow - time.monotonic()))):
                            break
                        continue
                    if pairs:
                        self._one_op(conn, role, rng.choice(pairs), rng)
                except psycopg.OperationalError as exc:
                    if self._stop.is_set():
                        break
                    self._error(exc)
                    if conn is not None and conn.closed:
                        if not self._wait(backoff):
                            break
                        backoff = min(backoff * 2, 10.0)
                except Exception as exc:  # never let the app die of its demo load
                    if self._stop.is_set():
                        break
                    self._error(exc)
                if not self._wait(rng.expovariate(self.rate)):
                    break
        finally:
            self._close(conn)

    def _one_op(self, conn: psycopg.Connection[Any], role: str, pair: tuple[Any, Any],
                rng: random.Random) -> None:
        channel_id, user_id = pair
        if role == "writer":
            if rng.random() < 0.65:
                line = rng.choice(_LINES)
                conn.execute(_app_sql("demo/workload/post_message.sql"),
                             {"channel_id": channel_id, "user_id": user_id, "content": line})
                self._count("messages_posted")
            else:
                cur = conn.execute(_app_sql("demo/workload/add_reaction.sql"),
                                   {"channel_id": channel_id, "user_id": user_id,
                                    "emoji": rng.choice(_EMOJIS)})
                if cur.fetchone() is not None:
                    self._count("reactions_added")
            self._count("queries")
            return
        r = rng.random()
        if r < 0.6:
            conn.execute(_app_sql("demo/workload/read_channel.sql"),
                         {"channel_id": channel_id}).fetchall()
        elif r < 0.85:
            conn.execute(_app_sql("demo/workload/unread_counts.sql"),
                         {"user_id": user_id}).fetchall()
        else:
            conn.execute(_app_sql("demo/workload/mark_read.sql"),
                         {"channel_id": channel_id, "user_id": user_id})
        self._count("reads")
        self._count("queries")
