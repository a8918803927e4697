"""A local PostgreSQL cluster that this tool owns: the embedded demo and the test servers.

It wraps ``initdb``/``pg_ctl`` from the server's bin directory, run through ``pg.tools`` (sh:
their own process group, umask 077, death with us). They refuse to run as root,
so when we are root every server command runs as the ``postgres`` OS user (``runuser``) and
the data and socket directories are created where that user can enter. It never touches a
cluster it did not create, and it binds to 127.0.0.1 and a unix socket only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from nchat_tui.pg.tools import ToolResult, run_captured

SERVER_BIN_CANDIDATES = [
    "/usr/lib/postgresql/{v}/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@{v}/bin",
]


class ClusterError(RuntimeError):
    """The local cluster could not be created, started or stopped."""


def find_server_bindir() -> Path:
    """Return the newest PostgreSQL server bin directory that holds ``initdb``.

    ``PG_BINDIR`` wins when set; otherwise ``pg_config --bindir``, then the Debian layout.
    """
    env = os.environ.get("PG_BINDIR")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    for v in range(18, 11, -1):
        for pattern in SERVER_BIN_CANDIDATES:
            p = Path(pattern.format(v=v))
            if (p / "initdb").exists():
                return p
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ClusterError(
        "no PostgreSQL server binaries (initdb) found; install postgresql "
        "(Debian: apt-get install postgresql) or set PG_BINDIR"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class LocalCluster:
    """A PostgreSQL cluster in ``datadir`` with its socket in ``sockdir``.

    ``password`` is the superuser's password for TCP connections (scram-sha-256); the unix
    socket trusts local users, so the tool's own set-up never needs the password on a
    command line.
    """

    datadir: Path
    sockdir: Path
    port: int = 0
    superuser: str = "postgres"
    password: str = "postgres"
    bindir: Path = field(default_factory=find_server_bindir)
    preload: str = "pg_stat_statements"
    extra_conf: dict[str, str] = field(default_factory=dict)

    # -- running commands as the right OS user ---------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        if running_as_root():
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str, check: bool = True) -> ToolResult:
        proc = run_captured(self._cmd(*args), self._env(), cwd="/")
        if check and proc.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed: {proc.stderr.strip() or proc.stdout}")
        return proc

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return env

    def _prepare_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if running_as_root():
            shutil.chown(path, "postgres", "postgres")
            # every parent must be enterable by postgres
            for parent in path.parents:
                if str(parent) in ("/", ""):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    raise ClusterError(
                        f"{parent} is not enterable by the postgres user; "
                        "choose a data directory outside it"
                    )
        os.chmod(path, 0o700)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster with a superuser password and our pg_hba/postgresql.conf."""
        self._prepare_dir(self.datadir)
        self._prepare_dir(self.sockdir)
        os.chmod(self.sockdir, 0o755)
        pwfile = self.sockdir / ".pwfile"
        pwfile.unlink(missing_ok=True)
        # 0600 from creation (never a moment world-readable), then handed to postgres
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.password + "\n")
            if running_as_root():
                shutil.chown(pwfile, "postgres", "postgres")
        except BaseException:
            pwfile.unlink(missing_ok=True)
            raise
        try:
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.superuser,
                "--pwfile", str(pwfile), "-A", "scram-sha-256", "--auth-local", "trust",
                "-E", "UTF8", "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.sockdir}'",
            "shared_preload_libraries": f"'{self.preload}'",
            "pg_stat_statements.track": "all",
            "fsync": "on",
            "max_connections": "100",
            "logging_collector": "off",
            **self.extra_conf,
        }
        with open(self.datadir / "postgresql.auto.conf", "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        proc = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status", check=False)
        return proc.returncode == 0

    def start(self, timeout: float = 60) -> None:
        if not self.initialised:
            self.init()
        if self.is_running():
            self.port = self.port or self._read_port()
            return
        self.port = self.port or free_port()
        log = self.sockdir / "server.log"
        if running_as_root():
            log.touch()
            shutil.chown(log, "postgres", "postgres")
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(log), "-w",
            "-t", str(int(timeout)), "-o", f"-p {self.port} -k {self.sockdir}", "start",
        )
        (self.sockdir / "port").write_text(str(self.port))

    def _read_port(self) -> int:
        pidfile = self.datadir / "postmaster.pid"
        with contextlib.suppress(OSError, IndexError, ValueError):
            return int(pidfile.read_text().splitlines()[3])
        return int((self.sockdir / "port").read_text())

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop",
                      check=False)

    # -- connection parameters -------------------------------------------------------------
    def socket_conninfo(self, dbname: str = "postgres") -> dict[str, str]:
        """Parameters for the trusted unix socket (no password needed)."""
        return {"host": str(self.sockdir), "port": str(self.port), "user": self.superuser,
                "dbname": dbname}

    def tcp_conninfo(self, dbname: str = "postgres") -> dict[str, str]:
        """Parameters for 127.0.0.1 with the superuser's password (as a real deployment)."""
        return {"host": "127.0.0.1", "port": str(self.port), "user": self.superuser,
                "password": self.password, "dbname": dbname}
