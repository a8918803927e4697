"""Which database we work on, and how to reach it, resolved once for the CLI and the app.

Order: ``--dsn``, else ``DATABASE_URL``, else libpq's own environment (``PG*`` variables,
service file, ``.pgpass``), else an nself backend directory's env files. The password stays
in memory: it reaches psycopg as a parameter and child processes through ``PGPASSWORD`` in
their environment, never argv; every display of the target masks it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from nchat_tui.errors import BadInput, ConnectError
from nchat_tui.pg.envfiles import load_backend_env

LIBPQ_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE",
             "PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE")


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir("nchat-tui", appauthor=False))


@dataclass
class Target:
    """A resolved target. ``params`` may hold a password: never print it, use ``masked()``."""

    params: dict[str, str]
    source: str
    backup_dir: Path
    state_dir: Path
    migrations_dir: Path | None = None
    project_name: str | None = None
    docker: str | None = None
    backend_dir: Path | None = None
    env_cascade: str = "go"
    notes: list[str] = field(default_factory=list)

    # -- what the operator sees -------------------------------------------------------------
    def effective(self) -> dict[str, str]:
        """Parameters with libpq's environment defaults filled in (what libpq will use)."""
        eff: dict[str, str] = {}
        env_map = {"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER"}
        for k, env in env_map.items():
            if self.params.get(k):
                eff[k] = self.params[k]
            elif os.environ.get(env):
                eff[k] = os.environ[env]
        if "service" in self.params or os.environ.get("PGSERVICE"):
            eff["service"] = self.params.get("service") or os.environ["PGSERVICE"]
        eff.setdefault("user", os.environ.get("USER", "postgres"))
        eff.setdefault("dbname", eff["user"])
        eff.setdefault("host", "local socket")
        eff.setdefault("port", "5432")
        return eff

    @property
    def database(self) -> str:
        return self.effective()["dbname"]

    @property
    def name(self) -> str:
        """The backup file prefix: PROJECT_NAME, else the database name (as the Go CLI does)."""
        return self.project_name or self.database

    def masked(self) -> str:
        """``user@host:port/dbname``: safe to show, log and journal."""
        e = self.effective()
        svc = f" service={e['service']}" if "service" in e else ""
        return f"{e['user']}@{e['host']}:{e['port']}/{e['dbname']}{svc}"

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"target": self.masked(), "source": self.source}
        if self.docker:
            d["docker"] = self.docker
        return d

    # -- connecting -------------------------------------------------------------------------
    def conninfo(self, **overrides: str) -> str:
        return make_conninfo(**{**self.params, **overrides})

    def connect(self, application_name: str = "nchat-tui", *, autocommit: bool = True,
                dbname: str | None = None, connect_timeout: int = 5,
                **kwargs: Any) -> psycopg.Connection[Any]:
        """Open a connection; a failure becomes a ConnectError naming its cause."""
        params = {**self.params, "application_name": application_name}
        params.setdefault("connect_timeout", str(connect_timeout))
        if dbname:
            params["dbname"] = dbname
        try:
            conn = psycopg.connect(make_conninfo(**params), autocommit=autocommit, **kwargs)
            set_client_check(conn)
            return conn
        except psycopg.OperationalError as exc:
            raise classify_connect_error(exc, self.masked() if not dbname else
                                         self.with_database(dbname).masked(),
                                         secrets=[self.params.get("password") or ""]) from None
        except psycopg.ProgrammingError as exc:  # a value libpq refuses (an invalid port, ...)
            raise BadInput(f"cannot use the connection settings of {self.source}: "
                           f"{_dsn_problem(str(exc))}", DSN_HINT) from None

    def with_database(self, dbname: str) -> Target:
        return Target(**{**self.__dict__, "params": {**self.params, "dbname": dbname}})

    def subprocess_env(self, dbname: str | None = None) -> dict[str, str]:
        """Environment for psql/pg_dump/pg_restore: the password travels here, never in argv."""
        env = dict(os.environ)
        mapping = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT",
                   "dbname": "PGDATABASE", "user": "PGUSER", "password": "PGPASSWORD",
                   "service": "PGSERVICE", "sslmode": "PGSSLMODE", "passfile": "PGPASSFILE",
                   "sslrootcert": "PGSSLROOTCERT", "connect_timeout": "PGCONNECT_TIMEOUT"}
        for k, v in self.params.items():
            if k in mapping and v:
                env[mapping[k]] = v
        if dbname:
            env["PGDATABASE"] = dbname
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        env["PGAPPNAME"] = "nchat-tui"
        return env


CLIENT_CHECK_INTERVAL_MS = 2000


def set_client_check(conn: psycopg.Connection[Any]) -> None:
    """``client_connection_check_interval`` on PostgreSQL 14+ (nothing before): a backend
    whose client was killed while a query of ours waited (on a lock, say) ends within this
    interval instead of staying queued, where it would hold up every session behind it."""
    if conn.info.server_version < 140000:
        return
    conn.execute(f"SET client_connection_check_interval = {CLIENT_CHECK_INTERVAL_MS}")
    if not conn.autocommit:
        conn.commit()


def classify_connect_error(exc: BaseException, where: str,
                           secrets: list[str] | None = None) -> ConnectError:
    """Turn libpq's message into one line naming the cause (never the password: ``secrets``
    are cut out of libpq's own words wherever they appear)."""
    msg = str(exc)
    for s in secrets or ():
        if s:
            msg = msg.replace(s, "***")
    low = msg.lower()
    m = re.search(r'database "([^"]+)" does not exist', msg)
    if m:
        return ConnectError("missing_database", f"database {m.group(1)!r} does not exist on {where}",
                            "check the database name (POSTGRES_DB / --dsn)")
    if "password authentication failed" in low or "no password supplied" in low \
            or "fe_sendauth" in low:
        return ConnectError("wrong_password", f"password authentication failed for {where}",
                            "check the password (POSTGRES_PASSWORD, PGPASSWORD or .pgpass)")
    m = re.search(r'role "([^"]+)" does not exist', msg)
    if m:
        return ConnectError("unknown_role", f"role {m.group(1)!r} does not exist on {where}",
                            "check the user name")
    if "could not translate host name" in low or "name or service not known" in low \
            or "nodename nor servname" in low:
        return ConnectError("unknown_host", f"cannot resolve the host name of {where}",
                            "check the host (DNS); nself publishes Postgres on 127.0.0.1")
    if "connection refused" in low:
        return ConnectError("refused", f"connection refused by {where}: nothing listens on that port",
                            "is PostgreSQL running, and is the port right? (pg_isready)")
    if "no such file or directory" in low and "socket" in low:
        return ConnectError("refused", f"no server on the local socket for {where}",
                            "is PostgreSQL running? give --dsn with host and port")
    if "timeout expired" in low or "no route to host" in low or "network is unreachable" in low:
        return ConnectError("unreachable", f"host unreachable: {where} did not answer",
                            "check the host, the network path or the firewall")
    if "too many clients" in low or "remaining connection slots" in low:
        return ConnectError("too_many_connections", f"{where} has no free connection slots",
                            "close idle sessions or raise max_connections")
    if "no pg_hba.conf entry" in low:
        return ConnectError("not_allowed", f"pg_hba.conf rejects this client for {where}",
                            "add a pg_hba.conf entry for this host, user and database")
    if "starting up" in low or "shutting down" in low or "recovery" in low:
        return ConnectError("not_ready", f"{where} is starting up or shutting down",
                            "wait and retry")
    first = msg.strip().splitlines()[-1] if msg.strip() else type(exc).__name__
    first = re.sub(r"password=\S+", "password=***", first)
    return ConnectError("connect_failed", f"cannot connect to {where}: {first}")


def mask_dsn(text: str) -> str:
    """Mask a password inside a DSN/URL or conninfo string."""
    text = re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)((?:[^@\s]|@(?=\S*@))*)@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", r"\1***", text)


#: libpq's connection keywords (PostgreSQL 15-18): a name outside this list is a typo
CONNINFO_KEYWORDS = (
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding",
    "connect_timeout", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
    "requiressl", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode",
    "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
    "target_session_attrs", "load_balance_hosts", "require_auth", "sslnegotiation",
    "min_protocol_version", "max_protocol_version", "scram_client_key", "scram_server_key",
    "oauth_issuer", "oauth_client_id", "oauth_client_secret", "oauth_scope")
DSN_HINT = "fix the connection string; it is not shown here because it may hold a password"


def _dsn_problem(message: str) -> str:
    """What is wrong with a connection string, from libpq's parse error, in words that never
    repeat the input: libpq quotes the offending text, which can be (part of) the password."""
    def word(quoted: str) -> str | None:
        """``quoted`` if it is a libpq keyword (safe to show), else a close keyword."""
        if quoted in CONNINFO_KEYWORDS:
            return f'"{quoted}"'
        import difflib  # noqa: PLC0415 - only a connection string that fails to parse needs it

        close = difflib.get_close_matches(quoted.lower(), CONNINFO_KEYWORDS, n=1, cutoff=0.75)
        return f'a misspelled option (did you mean "{close[0]}"?)' if close else None

    m = re.search(r'invalid (?:connection option|URI query parameter):? "([^"]*)"', message)
    if m:
        w = word(m.group(1))
        if w and w.startswith('"'):  # a real keyword in the wrong place (e.g. URL only)
            return f"the option {w} is not allowed there"
        return w or ("an option that is not a libpq keyword (a value with spaces must be "
                     "quoted: password='a b')")
    m = re.search(r'missing "=" after "([^"]*)"', message)
    if m:
        w = word(m.group(1))
        if w and w.startswith('"'):
            return f'{w} has no "=" (write {m.group(1)}=value)'
        return 'a word without "=" (write key=value; quote a value with spaces: key=\'a b\')'
    low = message.lower()
    if "unterminated quoted string" in low:
        return "a quoted value is not closed (write a quote inside a value as \\')"
    if "percent-encoded" in low:
        return 'the URL holds a "%" that is not followed by two hex digits (write % as %25)'
    if "key/value separator" in low:
        return 'a URL parameter after "?" needs exactly one "=" (key=value)'
    if "unexpected spaces" in low:
        return "the URL holds a space (write it %20)"
    if "ipv6" in low:
        return "an IPv6 host address in [ ] is not closed or is empty"
    # anything else: libpq's words, with every quoted piece of the input cut out
    return re.sub(r'"[^"]*"', '"…"', message.strip().splitlines()[0] if message.strip()
                  else "unknown error")


def _url_problem(dsn: str) -> str | None:
    """A URL whose user or password holds an unencoded "@" or "/" parses "fine" into the wrong
    host, port and database, which error messages then print: refuse it before parsing."""
    m = re.match(r"postgres(?:ql)?://", dsn, re.I)
    if not m:
        return None
    rest = dsn[m.end():]
    netloc_and_more = rest.split("?", 1)[0]
    ats = [i for i, c in enumerate(netloc_and_more) if c == "@"]
    if len(ats) > 1:
        return ('the URL holds more than one "@" before the host: write an "@" in the user '
                'name or password as %40')
    if ats:
        slash = netloc_and_more.find("/")
        if 0 <= slash < ats[0]:
            return ('the URL\'s user name or password holds a "/": write it as %2F')
    return None


def _params_from_dsn(dsn: str, source: str = "--dsn") -> dict[str, str]:
    """Parse a conninfo string or URL; an error names the problem, never the input."""
    problem = _url_problem(dsn)
    if problem is None:
        try:
            return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
        except psycopg.Error as exc:
            problem = _dsn_problem(str(exc))
    raise BadInput(f"cannot parse the connection string of {source}: {problem}", DSN_HINT)


def resolve_target(
    dsn: str | None = None,
    backend_dir: str | os.PathLike[str] | None = None,
    env_cascade: str = "go",
    docker: str | None = None,
    migrations: str | os.PathLike[str] | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Target:
    """Resolve the target from options and the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    notes: list[str] = []
    backend_env: dict[str, str] = {}
    bdir: Path | None = None
    if backend_dir:
        bdir = Path(backend_dir).expanduser().resolve()
        if not bdir.is_dir():
            raise BadInput(f"backend directory {bdir} does not exist")
        backend_env, files = load_backend_env(bdir, env_cascade)
        if not files:
            notes.append(f"no env files found in {bdir}")

    if dsn:
        params, source = _params_from_dsn(dsn, "--dsn"), "--dsn"
    elif env.get("DATABASE_URL"):
        params, source = _params_from_dsn(env["DATABASE_URL"], "DATABASE_URL"), "DATABASE_URL"
        if bdir:
            notes.append("DATABASE_URL wins over the backend's env files here; "
                         "the nself CLI itself never reads DATABASE_URL")
    elif any(env.get(k) for k in LIBPQ_ENV if k not in ("PGPASSWORD", "PGPASSFILE")):
        params, source = {}, "libpq environment (PG* variables / service file)"
    elif bdir:
        host = backend_env.get("POSTGRES_HOST") or "127.0.0.1"
        project = backend_env.get("PROJECT_NAME")
        if host in ("postgres", f"{project}_postgres", "nself-postgres"):
            notes.append(f"POSTGRES_HOST={host} is the container's name inside Docker's network; "
                         "from this host nself publishes Postgres on 127.0.0.1")
            host = "127.0.0.1"
        params = {"host": host, "port": backend_env.get("POSTGRES_PORT") or "5432",
                  "dbname": backend_env.get("POSTGRES_DB") or "nself",
                  "user": backend_env.get("POSTGRES_USER") or "postgres"}
        if backend_env.get("POSTGRES_PASSWORD"):
            params["password"] = backend_env["POSTGRES_PASSWORD"]
        source = f"nself backend {bdir} ({env_cascade} env cascade)"
    else:
        params, source = {}, "libpq defaults"

    project_name = backend_env.get("PROJECT_NAME") or None
    if bdir and migrations is None:
        for cand in (bdir / "migrations", bdir / "nself" / "migrations"):
            if cand.is_dir():
                migrations = cand
                break
    bk = backup_dir or backend_env.get("BACKUP_DIR") or env.get("BACKUP_DIR")
    if bk and bdir and not Path(bk).is_absolute() and not backup_dir:
        bk = str(bdir / bk)
    target = Target(
        params=params,
        source=source,
        backup_dir=Path(bk or "./backups").expanduser().absolute(),
        state_dir=Path(state_dir).expanduser().absolute() if state_dir else default_state_dir(),
        migrations_dir=Path(migrations).expanduser().absolute() if migrations else None,
        project_name=project_name,
        docker=docker,
        backend_dir=bdir,
        env_cascade=env_cascade,
        notes=notes,
    )
    return target
