#!/usr/bin/python
# The nchat-tui collection's one module: run ``nchat-tui COMMAND --json`` on the managed host and
# turn its JSON and exit code into an Ansible result. MIT licence, like nchat-tui.

import json
import os
import re
import time
from urllib.parse import unquote, urlsplit

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: nchat
short_description: Run one nchat-tui step (status, plan, backup, migrate, verify, rollback...) on a host
version_added: "0.1.0"
description:
  - Runs C(nchat-tui COMMAND --json) on the managed host, never through a shell, and reports its
    outcome from the tool's JSON and its exit code (0 ok, 1 failed, 2 cannot connect or bad input,
    3 refused for safety, 4 another run holds the migration lock).
  - C(changed) is true only when something was applied, restored or rolled back (a migration that
    committed a file, a restore swap, a down rollback that reverted a file, a maintenance item
    done, a kept database dropped). A backup, a plan, a verification or a report changes nothing.
  - Exit 3 and 4 fail the task with C(outcome=refused) or C(outcome=locked) (and C(refused) or
    C(locked) true), so a play can tell a safety refusal or a busy lock from a failure.
  - Changing commands are run with C(--yes), since running the task is the confirmation.
  - The password reaches the tool only through its environment (C(PGPASSWORD) or
    C(DATABASE_URL) of the child process), never its command line. Give it with the I(password)
    option (from Ansible Vault). The option is C(no_log), so Ansible masks it in every result,
    log and callback output. Do not use the task's C(environment) keyword for it, Ansible puts
    environment values on the remote shell's command line, where C(ps) and C(-vvv) show them.
options:
  command:
    description: The nchat-tui subcommand to run.
    type: str
    required: true
    choices: [status, plan, backup, backups, verify-backup, restore, rehearse, migrate, verify,
              maintain, rollback, report]
  executable:
    description: The nchat-tui program on the host (a name looked up on PATH, or a path).
    type: str
    default: nchat-tui
  dsn:
    description:
      - A libpq connection string or postgresql:// URL. It reaches the tool as C(DATABASE_URL) in
        its environment, so a password inside it never lands on a command line; the option is
        C(no_log).
      - Mutually exclusive with I(host), I(port), I(user) and I(database).
    type: str
  host:
    description: Database host (or unix socket directory).
    type: str
  port:
    description: Database port.
    type: int
  user:
    description: Database user.
    type: str
  database:
    description: Database name.
    type: str
  password:
    description:
      - The database password, best from Ansible Vault. Passed to the tool as C(PGPASSWORD) in its
        environment; masked by Ansible everywhere (C(no_log)).
      - Without it the tool finds the password as libpq does (C(PGPASSWORD) or C(.pgpass) of the
        remote user) or in the nself backend's env files (I(backend_dir)).
    type: str
  backend_dir:
    description: An nself backend directory on the host; its env files give the target, the
      password, C(BACKUP_DIR) and the migrations.
    type: path
  env_cascade:
    description: Which nself CLI's env-file order to follow.
    type: str
    choices: [go, bash]
  docker:
    description: Run pg_dump, psql and pg_restore inside this container (docker exec).
    type: str
  migrations:
    description: The migration files directory on the host.
    type: path
  backup_dir:
    description: Where backups are written and found on the host.
    type: path
  state_dir:
    description: The tool's journals and sessions on the host.
    type: path
  to:
    description: (plan, migrate, rollback with down) stop after this version, or revert every file after it.
    type: str
  down:
    description: (plan, migrate, rollback) the down direction.
    type: bool
    default: false
  lock_timeout:
    description: (migrate, rehearse) lock_timeout per statement, seconds.
    type: float
  statement_timeout:
    description: (migrate, rehearse) statement_timeout per statement, seconds.
    type: float
  retries:
    description: (migrate) retries after a lock timeout before giving up.
    type: int
  without_backup:
    description: (migrate) run without a verified backup; the reason is journaled.
    type: str
  accept_preflight:
    description: (migrate) run although the catalog preflight finds objects the files need
      that the database lacks; the reason is journaled.
    type: str
  confirm_as_written:
    description: (migrate, rehearse) files with their own transaction control to run exactly as written.
    type: list
    elements: str
    default: []
  runner:
    description: (migrate) C(ours) or drive the nself CLI.
    type: str
    choices: [ours, nself]
  backup:
    description: (rollback) restore this backup by the safe rename swap; (verify-backup,
      restore) the backup to read.
    type: path
  into:
    description: (restore) the new database to restore into.
    type: str
  against:
    description: (verify, maintain, rollback) the before-snapshot's manifest.
    type: path
  health_url:
    description: (verify) the application's health endpoint.
    type: str
  release:
    description: (verify) the application version the health URL must report.
    type: str
  vacuum:
    description: (maintain) VACUUM ANALYZE the new and changed tables.
    type: bool
    default: false
  refresh:
    description: (maintain) refresh the materialized views.
    type: bool
    default: false
  cleanup:
    description: (maintain) the cleanup jobs (counted first).
    type: bool
    default: false
  tables:
    description: (maintain) vacuum these tables instead of the new and changed ones.
    type: list
    elements: str
    default: []
  test_restore:
    description: (backup, verify-backup) also restore into a scratch database and compare every count.
    type: bool
    default: false
  format:
    description: (backup) dump format.
    type: str
    choices: [custom, directory]
  jobs:
    description: (backup, rollback) parallel jobs.
    type: int
  drop_old:
    description: (rollback) drop this database an earlier restore swap kept.
    type: str
  session:
    description: (report) the session to report (default the target's current one).
    type: str
  output:
    description: (report) where to write the Markdown on the host (default the session's report.md).
    type: path
  extra_args:
    description: More arguments for the subcommand, appended as given (never a password).
    type: list
    elements: str
    default: []
notes:
  - Check mode runs C(status) and C(plan) only. C(migrate) in check mode runs C(plan) with the same
    direction and I(to) and reports what it would apply (C(changed) when there is something); every
    other command is skipped, so nothing on the host changes.
author:
  - nchat-tui developers
"""

EXAMPLES = r"""
- name: What is applied and pending
  nself.nchat_tui.nchat:
    command: status
    host: 127.0.0.1
    port: 5432
    user: postgres
    database: nchat
    password: "{{ vault_nchat_pg_password }}"
    migrations: /srv/chat/.backend/nself/migrations
  register: st

- name: Apply the pending migrations (refuses without a verified backup newer than the ledger)
  nself.nchat_tui.nchat:
    command: migrate
    backend_dir: /srv/chat/.backend   # password read on the host from the backend's env files
  register: mig
  failed_when: mig.failed and not mig.locked
"""

RETURN = r"""
outcome:
  description: ok, failed (exit 1), bad_input (exit 2), refused (exit 3), locked (exit 4),
    interrupted or error (another exit), skipped (check mode).
  returned: always
  type: str
refused:
  description: The tool refused for safety (exit 3).
  returned: always
  type: bool
locked:
  description: Another run holds the migration lock (exit 4).
  returned: always
  type: bool
rc:
  description: The tool's exit code.
  returned: when the tool ran
  type: int
cmd:
  description: The command line run (it never holds a password).
  returned: when the tool ran
  type: list
result:
  description: The tool's JSON object.
  returned: when the tool printed one
  type: dict
msg:
  description: One line; on failure the tool's own error line.
  returned: always
  type: str
stderr:
  description: The tool's progress lines (and its error line).
  returned: when the tool ran
  type: str
duration_s:
  description: Wall time of the command on the host.
  returned: when the tool ran
  type: float
version:
  description: (status) the ledger's current version.
  returned: for status
  type: str
pending:
  description: (status) pending files in run order.
  returned: for status
  type: list
applied:
  description: (migrate) files applied (or reverted with down) and committed.
  returned: for migrate
  type: list
would_apply:
  description: (migrate in check mode) the files the run would apply.
  returned: in check mode
  type: list
backup_path:
  description: (backup) the verified backup file.
  returned: for backup
  type: str
manifest_path:
  description: (backup) its manifest.
  returned: for backup
  type: str
report_path:
  description: (report) the Markdown report on the host.
  returned: for report
  type: str
"""

EXIT_OUTCOME = {0: "ok", 1: "failed", 2: "bad_input", 3: "refused", 4: "locked", 130: "interrupted"}

# What check mode runs: these only read. A migrate becomes a plan; everything else is skipped.
READ_ONLY = ("status", "plan")

# option -> (flag, the subcommands that take it); a bool is a flag without a value
FLAGS = {
    "to": ("--to", ("plan", "migrate", "rollback")),
    "down": ("--down", ("plan", "migrate", "rollback")),
    "lock_timeout": ("--lock-timeout", ("migrate", "rehearse")),
    "statement_timeout": ("--statement-timeout", ("migrate", "rehearse")),
    "retries": ("--retries", ("migrate",)),
    "without_backup": ("--without-backup", ("migrate",)),
    "accept_preflight": ("--accept-preflight", ("migrate",)),
    "confirm_as_written": ("--confirm-as-written", ("migrate", "rehearse")),
    "runner": ("--runner", ("migrate",)),
    "into": ("--into", ("restore",)),
    "against": ("--against", ("verify", "maintain", "rollback")),
    "health_url": ("--health-url", ("verify",)),
    "release": ("--release", ("verify",)),
    "vacuum": ("--vacuum", ("maintain",)),
    "refresh": ("--refresh", ("maintain",)),
    "cleanup": ("--cleanup", ("maintain",)),
    "tables": ("--table", ("maintain",)),
    "test_restore": ("--test-restore", ("backup", "verify-backup")),
    "format": ("--format", ("backup",)),
    "jobs": ("--jobs", ("backup", "rollback")),
    "drop_old": ("--drop-old", ("rollback",)),
    "output": ("--output", ("report",)),
}
TARGET_FLAGS = {"backend_dir": "--backend-dir", "env_cascade": "--env-cascade",
                "docker": "--docker", "migrations": "--migrations", "backup_dir": "--backup-dir",
                "state_dir": "--state-dir"}
NOT_SET = (None, False, [], "")


def conninfo_value(v):
    """One libpq key=value value, quoted."""
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


def dsn_passwords(dsn):
    """The password(s) inside a connection string or URL, so Ansible masks them too."""
    found = []
    if "://" in dsn:
        try:
            pw = urlsplit(dsn).password
        except ValueError:
            pw = None
        if pw:
            found.append(unquote(pw))
        found += [unquote(m) for m in re.findall(r"[?&]password=([^&#]*)", dsn)]
    else:
        for m in re.finditer(r"password\s*=\s*('((?:[^'\\]|\\.)*)'|\S+)", dsn):
            found.append(m.group(2) if m.group(2) is not None else m.group(1))
    return [p for p in found if p]


def needs_yes(p):
    """The changing forms of migrate, rollback and maintain ask unless given --yes: running
    the task is the confirmation."""
    cmd = p["command"]
    if cmd == "migrate":
        return True
    if cmd == "rollback":
        return bool(p["down"] or p["backup"] or p["drop_old"])
    if cmd == "maintain":
        return bool(p["vacuum"] or p["refresh"] or p["cleanup"])
    return False


class BadOption(Exception):
    pass


def build_argv(p, exe, command, only=None):
    """The tool's argv. It never holds a password: that goes in the child's environment.
    ``only`` keeps just these subcommand options (check mode's plan for a migrate)."""
    argv = [exe, command]
    for opt, flag in TARGET_FLAGS.items():
        if p.get(opt):
            argv += [flag, str(p[opt])]
    conn = [(key, p[opt]) for opt, key in (("host", "host"), ("port", "port"), ("user", "user"),
                                           ("database", "dbname")) if p.get(opt) not in (None, "")]
    if conn:
        argv += ["--dsn", " ".join(f"{k}={conninfo_value(v)}" for k, v in conn)]
    for opt, (flag, cmds) in FLAGS.items():
        val = p.get(opt)
        if (only is not None and opt not in only) or val in NOT_SET:
            continue
        if command not in cmds:
            raise BadOption(f"option {opt} does not apply to {command} (it goes with "
                            f"{', '.join(cmds)})")
        if isinstance(val, bool):
            argv.append(flag)
        elif isinstance(val, list):
            for v in val:
                argv += [flag, str(v)]
        else:
            argv += [flag, f"{val:g}" if isinstance(val, float) else str(val)]
    if only is None:
        if p.get("backup"):
            if command == "rollback":
                argv += ["--backup", p["backup"]]
            elif command in ("verify-backup", "restore"):
                argv.append(p["backup"])
            else:
                raise BadOption(f"option backup does not apply to {command}")
        elif command in ("verify-backup", "restore"):
            raise BadOption(f"{command} needs the backup option (the file to read)")
        if p.get("session"):
            if command != "report":
                raise BadOption("option session goes with report")
            argv.append(p["session"])
        if needs_yes(p):
            argv.append("--yes")
    argv.append("--json")
    if only is None:
        argv += [str(a) for a in p["extra_args"]]
    return argv


def parse_json(stdout):
    """The one JSON object the tool prints with --json (None when there is none)."""
    text = (stdout or "").strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else {"value": obj}
    except ValueError:
        pass
    dec = json.JSONDecoder()
    for m in re.finditer(r"^\{", text, re.M):
        try:
            obj, _end = dec.raw_decode(text[m.start():])
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def tool_error(res):
    """The tool's one-line error from its JSON error object: message (hint)."""
    if isinstance(res, dict) and isinstance(res.get("error"), str) and "message" in res:
        return res["message"] + (f" ({res['hint']})" if res.get("hint") else "")
    return None


def last_error_line(stderr, command):
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    prefix = f"nchat-tui {command}:"
    for ln in reversed(lines):
        if ln.startswith(prefix):
            return ln[len(prefix):].strip()
    return lines[-1] if lines else None


def run_error(err):
    """A runner error as one line: file statement N line L: message [sqlstate]."""
    if not err:
        return ""
    where = err.get("file") or "?"
    if err.get("statement"):
        where += f" statement {err['statement']}"
    if err.get("line"):
        where += f" line {err['line']}"
    state = f" [{err['sqlstate']}]" if err.get("sqlstate") else ""
    return f"{where}: {err.get('message')}{state}"


def danger_findings(plan):
    """The plan's lint errors (severity danger), one line each: file #statement line: rule: message."""
    out = []
    for fp in plan.get("files") or []:
        found = list(fp.get("findings") or [])
        for st in fp.get("statements") or []:
            found += [dict(f, statement=f.get("statement") or st.get("index"),
                           line=f.get("line") or st.get("line")) for f in st.get("findings") or []]
        seen = set()
        for f in found:
            key = (f.get("rule"), f.get("statement"), f.get("message"))
            if f.get("severity") != "danger" or key in seen:
                continue
            seen.add(key)
            where = fp.get("file") or "?"
            if f.get("statement"):
                where += f" #{f['statement']}"
            if f.get("line"):
                where += f" line {f['line']}"
            out.append(f"{where}: {f.get('rule')}: {f.get('message')}")
    return out


def _status(p, res, rc):
    led = res.get("ledger") or {}
    pending = res.get("pending") or []
    msg = (f"{res.get('target')}: ledger {led.get('kind')} at {led.get('current_version') or 'none'}, "
           f"{len(pending)} pending" + (": " + ", ".join(pending) if pending else ""))
    return msg, False, {"version": led.get("current_version"), "pending": pending}


def _plan(p, res, rc):
    s = res.get("summary") or {}
    f = s.get("findings") or {}
    extra = {"files": [fp.get("file") for fp in res.get("files") or []],
             "danger": danger_findings(res),
             "drift": [d.get("file") for d in res.get("drift") or []],
             "needs_confirmation": s.get("needs_confirmation") or [],
             # the catalog preflight: what the files need that the database lacks
             "preflight": [f"{fp.get('file')} {line}" for fp in res.get("files") or []
                           for line in fp.get("preflight") or []]}
    msg = (f"{s.get('files')} file(s), {s.get('statements')} statement(s); findings: "
           f"{f.get('danger', 0)} danger, {f.get('warn', 0)} warn, {f.get('info', 0)} info; "
           f"drift: {s.get('drift', 0)}; preflight problems: {s.get('preflight_problems') or 0}")
    return msg, False, extra


def _backup(p, res, rc):
    extra = {"backup_path": res.get("path"), "manifest_path": res.get("manifest")}
    return f"{res.get('state')} backup {res.get('path')} ({res.get('size')} bytes)", False, extra


def _migrate(p, res, rc):
    committed = res.get("committed") or []
    # a file run as written (not atomic) can stop half way, some statements committed
    partial = [fo.get("file") for fo in res.get("files") or [] if fo.get("status") == "partial"]
    extra = {"applied": committed, "rolled_back": res.get("rolled_back") or [], "partial": partial}
    changed = bool(committed or partial)
    down = res.get("direction") == "down"
    verb = "reverted" if down else "applied"
    if res.get("status") == "nothing_to_do":
        return f"nothing to {'revert' if down else 'apply'}", False, extra
    if rc == 0:
        return f"{verb}: {', '.join(committed)}", changed, extra
    msg = run_error(res.get("error")) or f"migration {res.get('status')}"
    msg += f"; {verb} and committed: {', '.join(committed) or 'none'}"
    if partial:
        msg += f"; PARTLY committed: {', '.join(partial)}"
    if extra["rolled_back"]:
        msg += f"; rolled back: {', '.join(extra['rolled_back'])}"
    if res.get("blockers"):
        msg += f"; blocked by {len(res['blockers'])} session(s)"
    return msg, changed, extra


def _verify(p, res, rc):
    checks = res.get("checks") or []
    failed = [c for c in checks if c.get("status") == "failed"]
    warned = [c for c in checks if c.get("status") == "warn"]
    extra = {"ok": bool(res.get("ok")), "failed_checks": [c.get("id") for c in failed]}
    if res.get("ok"):
        return f"verification passed: {len(checks)} check(s), {len(warned)} warning(s)", False, extra
    return "verification failed: " + "; ".join(
        f"{c.get('id')}: {c.get('summary')}" for c in failed), False, extra


def _rehearse(p, res, rc):
    if rc == 0:
        return (f"rehearsal {res.get('status')}: estimate for production "
                f"~{res.get('estimate_s')} s"), False, {}
    up = res.get("up") or {}
    return f"rehearsal {res.get('status')}" + (
        ": " + run_error(up["error"]) if up.get("error") else ""), False, {}


def _rollback(p, res, rc):
    if p["backup"]:
        return (f"{res.get('database')} is now the restored copy of {res.get('restored_from')}; "
                f"the previous database is kept as {res.get('old_database')}"), rc == 0, {}
    if p["down"]:
        run = res.get("run") or {}
        reverted = run.get("committed") or []
        msg = (f"down to {res.get('to_version')}: {run.get('status')}; reverted: "
               f"{', '.join(reverted) or 'none'}; schema "
               f"{'equals' if res.get('inventory_equal') else 'DIFFERS from'} the before-snapshot")
        if run.get("error"):
            msg += "; " + run_error(run["error"])
        return msg, bool(reverted), {"applied": reverted}
    if p["drop_old"]:
        return f"dropped {res.get('dropped')}", rc == 0, {}
    return f"ways back for {res.get('database')}: recommended {res.get('recommended')}", False, {}


def _maintain(p, res, rc):
    results = res.get("results") or []
    done = [r for r in results if r.get("status") == "done"]
    bad = [r for r in results if r.get("status") == "failed"]
    if bad:
        return "maintenance failed: " + "; ".join(
            f"{r.get('item')}: {r.get('detail')}" for r in bad), bool(done), {}
    if results:
        return f"maintenance: {len(done)} done, {len(results) - len(done)} not done", bool(done), {}
    return "maintenance plan only (give vacuum, refresh or cleanup)", False, {}


def _restore(p, res, rc):
    return f"restored into {res.get('database') or p.get('into')}", rc == 0, {}


def _report(p, res, rc):
    return (f"report for session {res.get('session')} written to {res.get('report')}", False,
            {"report_path": res.get("report")})


def _verify_backup(p, res, rc):
    return ("backup verified" if res.get("ok") else f"backup NOT verified: {res.get('failure')}",
            False, {})


SUMMARIES = {"status": _status, "plan": _plan, "backup": _backup, "migrate": _migrate,
             "verify": _verify, "rehearse": _rehearse, "rollback": _rollback,
             "maintain": _maintain, "restore": _restore, "report": _report,
             "verify-backup": _verify_backup}


def summarize(command, p, res, rc):
    """(one line, changed, extra return values) from the tool's JSON. ``changed`` is true only
    when something was applied, restored or rolled back."""
    if not isinstance(res, dict):
        return None, False, {}
    err = tool_error(res)
    if err:
        return err, False, {}
    fn = SUMMARIES.get(command)
    if fn is None:
        return f"{command} done", False, {}
    return fn(p, res, rc)


def main():
    module = AnsibleModule(
        argument_spec={
            "command": {"type": "str", "required": True,
                        "choices": ["status", "plan", "backup", "backups", "verify-backup",
                                    "restore", "rehearse", "migrate", "verify", "maintain",
                                    "rollback", "report"]},
            "executable": {"type": "str", "default": "nchat-tui"},
            "dsn": {"type": "str", "no_log": True},
            "host": {"type": "str"},
            "port": {"type": "int"},
            "user": {"type": "str"},
            "database": {"type": "str"},
            "password": {"type": "str", "no_log": True},
            "backend_dir": {"type": "path"},
            "env_cascade": {"type": "str", "choices": ["go", "bash"]},
            "docker": {"type": "str"},
            "migrations": {"type": "path"},
            "backup_dir": {"type": "path"},
            "state_dir": {"type": "path"},
            "to": {"type": "str"},
            "down": {"type": "bool", "default": False},
            "lock_timeout": {"type": "float"},
            "statement_timeout": {"type": "float"},
            "retries": {"type": "int"},
            "without_backup": {"type": "str"},
            "accept_preflight": {"type": "str"},
            "confirm_as_written": {"type": "list", "elements": "str", "default": []},
            "runner": {"type": "str", "choices": ["ours", "nself"]},
            "backup": {"type": "path"},
            "into": {"type": "str"},
            "against": {"type": "path"},
            "health_url": {"type": "str"},
            "release": {"type": "str"},
            "vacuum": {"type": "bool", "default": False},
            "refresh": {"type": "bool", "default": False},
            "cleanup": {"type": "bool", "default": False},
            "tables": {"type": "list", "elements": "str", "default": []},
            "test_restore": {"type": "bool", "default": False},
            "format": {"type": "str", "choices": ["custom", "directory"]},
            "jobs": {"type": "int"},
            "drop_old": {"type": "str"},
            "session": {"type": "str"},
            "output": {"type": "path"},
            "extra_args": {"type": "list", "elements": "str", "default": []},
        },
        mutually_exclusive=[("dsn", "host"), ("dsn", "port"), ("dsn", "user"),
                            ("dsn", "database"), ("backup", "down"), ("backup", "drop_old"),
                            ("down", "drop_old")],
        supports_check_mode=True,
    )
    p = module.params
    command = p["command"]
    base = {"changed": False, "outcome": "ok", "refused": False, "locked": False}

    # Every form the password can take is masked in whatever Ansible shows or logs, and it
    # reaches the tool through the child's environment only.
    env_update = {"NO_COLOR": "1"}
    if p["password"]:
        env_update["PGPASSWORD"] = p["password"]
    if p["dsn"] is not None:
        if not p["dsn"].strip():
            module.fail_json(msg="dsn is empty", **dict(base, outcome="bad_input"))
        env_update["DATABASE_URL"] = p["dsn"]
        for pw in dsn_passwords(p["dsn"]):
            module.no_log_values.add(pw)
    inherited = os.environ.get("PGPASSWORD")
    if inherited:
        module.no_log_values.add(inherited)
        if not p["password"]:
            module.warn("PGPASSWORD is set in the module's environment. If it came from the task's "
                        "`environment:` keyword, Ansible put it on the remote shell's command line "
                        "(visible in ps and in -vvv output): give it with the password option "
                        "(no_log, from Vault) instead.")

    run_command, check_plan = command, False
    if module.check_mode and command not in READ_ONLY:
        if command != "migrate":
            module.exit_json(skipped=True, msg=f"check mode: {command} not run (check mode runs "
                             "status and plan only; nothing on the host changes)",
                             **dict(base, outcome="skipped"))
        run_command, check_plan = "plan", True

    exe = p["executable"]
    if os.sep not in exe:
        found = module.get_bin_path(exe, required=False)
        if not found:
            module.fail_json(msg=f"{exe} is not installed on this host (not on PATH): install it "
                             "(pip install nchat-tui) or set the executable option",
                             **dict(base, outcome="bad_input"))
        exe = found
    elif not os.access(exe, os.X_OK):
        module.fail_json(msg=f"{exe} is not an executable file on this host",
                         **dict(base, outcome="bad_input"))
    try:
        argv = build_argv(p, exe, run_command, only=("to", "down") if check_plan else None)
    except BadOption as exc:
        module.fail_json(msg=str(exc), **dict(base, outcome="bad_input"))

    started = time.monotonic()
    rc, stdout, stderr = module.run_command(argv, environ_update=env_update, check_rc=False,
                                            expand_user_and_vars=False)
    res = parse_json(stdout)
    out = dict(base, rc=rc, cmd=argv, stderr=stderr, result=res,
               duration_s=round(time.monotonic() - started, 3),
               outcome=EXIT_OUTCOME.get(rc, "error"), refused=rc == 3, locked=rc == 4)

    if check_plan and rc == 0 and isinstance(res, dict):
        files = [fp.get("file") for fp in res.get("files") or []]
        verb = "revert" if p["down"] else "apply"
        out.update(would_apply=files, changed=bool(files),
                   msg=f"check mode: would {verb} {', '.join(files)}" if files
                   else f"check mode: nothing to {verb}")
        module.exit_json(**out)

    msg, changed, extra = summarize(run_command, p, res, rc)
    out.update(extra, changed=changed)
    if rc == 0:
        out["msg"] = msg or f"{command} done"
        module.exit_json(**out)
    if msg is None:
        msg = last_error_line(stderr, run_command) or f"nchat-tui {run_command} exited {rc}"
    label = {3: "refused", 4: "locked"}.get(rc)
    out["msg"] = f"{label}: {msg}" if label else msg
    if tool_error(res):
        out["tool_error"] = res
    module.fail_json(**out)


if __name__ == "__main__":
    main()
