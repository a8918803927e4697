"""Each nChat release as data: a release folder is the only change that teaches the tool an upgrade.

The TEST release below lives in a folder this test writes under tmp_path, named by
``NCHAT_TUI_RELEASES``: no engine module is edited, yet the registry lists it, its checklist
loads as an upgrade path, a new session on a target with its files pending follows it (known by
what the files create, not by their numbers), the verification runs its checks (and skips the
other releases', saying why), and the troubleshooting lists and walks its tree. The path choice
for the two shipped releases is pinned too: it is what the version-number guess used to choose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import textwrap
from pathlib import Path
from typing import Any

import pytest

from nchat_tui.cli import main as cli
from nchat_tui.demo.builder import default_migrations_dir
from nchat_tui.migrate.ddl_effects import analyse_files
from nchat_tui.migrate.status import LedgerSummary, Status
from nchat_tui.monitor.troubleshoot import TREES, CheckContext, walk
from nchat_tui.pg.target import resolve_target
from nchat_tui.releases import registry
from nchat_tui.releases.choice import choose, path_mismatch
from nchat_tui.releases.release import ReleaseError
from nchat_tui.upgrade.checklist import known_paths, load_path
from nchat_tui.upgrade.session import UpgradeSession

REALNCHAT = Path(__file__).resolve().parent / "fixtures" / "realnchat" / "migrations"

CHECKLIST = """\
[meta]
id = "v9.0.0"
title = "TEST release: widgets"
from_version = "8.0.0"
to_version = "9.0.0"
sources = ["tests/test_releases.py"]
expects_migrations = ["widgets"]

[recognise]
what = "widget table"
objects = "widget objects"

[recognise.creates]
tables = ["public.test_widgets"]
columns = ["public.test_gadgets.widget_id"]

[cleanup.widgets-old]
title = "delete old widgets"
table = "public.test_widgets"
column = "created_at"
count = "maintenance/test_widgets_count.sql"
delete = "maintenance/test_widgets_delete.sql"

[[phase]]
id = "pre"
title = "Pre-migration"

[[phase.step]]
id = "connect"
title = "Connect"
kind = "auto"
action = "connect"

[[phase.step]]
id = "read"
title = "Read the widget guide"
kind = "manual"
gated_by = ["connect"]

[[phase]]
id = "post"
title = "Post-migration"

[[phase.step]]
id = "health"
title = "Verify database health"
kind = "auto"
action = "verify_schema"
"""

CHECKS = '''\
"""The TEST release's own verification check."""
CHECKS = {"test900.widgets": "schema"}
RAN: list[object] = []


def run(conn, before, diff, add, why):
    RAN.append(why)
    add("test900.widgets", "ok", "the widget table is there", files=why.files)
'''

TROUBLESHOOT = '''\
"""The TEST release's own troubleshooting tree."""
from nchat_tui.monitor.troubleshoot import Finding, Step, Tree, check

TREES = (Tree("test900", "Widget problems", "The TEST release's one case.",
              (Step("w", "Widgets stuck", "test900_widgets", on_problem=None, on_ok=None),)),)


@check("test900_widgets")
def check_widgets(ctx):
    return Finding("test900_widgets", "ok", "no widget is stuck")
'''


def _write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


@pytest.fixture
def test_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of release folders holding the TEST release, named to the tool."""
    folder = tmp_path / "releases" / "v9_0_0"
    _write(folder / "checklist.toml", CHECKLIST)
    _write(folder / "checks.py", CHECKS)
    _write(folder / "troubleshoot.py", TROUBLESHOOT)
    monkeypatch.setenv(registry.ENV, str(tmp_path / "releases"))
    return folder


@pytest.fixture
def widget_migrations(tmp_path: Path) -> Path:
    """A migrations directory: one applied file, then the TEST release's (version 13, like the
    v0.4.0 guide's first file: the number says nothing)."""
    d = tmp_path / "migrations"
    _write(d / "001_base.sql", "CREATE TABLE public.test_gadgets (id int PRIMARY KEY);\n")
    _write(d / "013_widgets.sql", "CREATE TABLE public.test_widgets (id int PRIMARY KEY);\n"
           "ALTER TABLE public.test_gadgets ADD COLUMN widget_id int "
           "REFERENCES public.test_widgets (id);\n")
    return d


def _status(mdir: Path, applied: list[str], pending: list[str]) -> Status:
    return Status(target="app@db:5432/nchat", source="test", server_version="15",
                  server_version_num=150000, database="nchat", user="app", is_superuser=False,
                  database_size=0, pg_stat_statements={"available": False, "state": "unknown"},
                  ledger=LedgerSummary(kind="go", kinds=["go"], applied=applied,
                                       current_version=None),
                  migrations_dir=str(mdir), pending=pending, pending_known=True)


def _files(mdir: Path) -> list[str]:
    return sorted(p.name for p in mdir.glob("*.sql") if not p.name.endswith("down.sql")
                  and not p.name.endswith(".down.sql"))


def test_a_test_release_folder_is_recognised_and_its_checklist_loads(
        test_release: Path, widget_migrations: Path, tmp_path: Path) -> None:
    assert registry.ids() == ["v0.4.0", "v0.8.0", "v9.0.0"]
    assert known_paths() == ["v0.4.0", "v0.8.0", "v9.0.0"]
    rel = registry.get("v9.0.0")
    assert rel.folder == test_release and rel.schema_change and rel.to_version == "9.0.0"

    path = load_path("v9.0.0")
    assert path.title == "TEST release: widgets" and path.expects_migrations == ("widgets",)
    assert [s.key for s in path.steps()] == ["pre.connect", "pre.read", "post.health"]
    assert path.step("pre.read").gated_by == ("pre.connect",)

    status = _status(widget_migrations, ["001_base.sql"], ["013_widgets.sql"])
    choice = choose(status)
    assert (choice.path, choice.how) == ("v9.0.0", "recognised"), choice
    assert "013_widgets.sql creates the v9.0.0 widget table" in choice.reason
    # a new session on that target follows it, with no --upgrade-path
    target = resolve_target(dsn="host=127.0.0.1 port=1 dbname=x user=y",
                            migrations=widget_migrations, state_dir=tmp_path / "state",
                            environ={})
    session = UpgradeSession(target, status=status)
    assert session.path.id == "v9.0.0" and session.path_choice.how == "recognised"
    assert session.checklist.state("pre.connect").state == "pending"
    # the home screen's warning, asked of the other paths, names the right one
    assert path_mismatch(status, "v9.0.0") is None
    warn = path_mismatch(status, "v0.4.0")
    assert warn is not None and "--upgrade-path v9.0.0" in warn


def test_the_test_release_is_recognised_half_done_by_name(
        test_release: Path, widget_migrations: Path) -> None:
    """Its second file pending, the first (which created the table) applied: known by name."""
    _write(widget_migrations / "014_widgets.sql",
           "CREATE INDEX test_widgets_id ON public.test_widgets (id);\n")
    status = _status(widget_migrations, ["001_base.sql", "013_widgets.sql"], ["014_widgets.sql"])
    choice = choose(status)
    assert (choice.path, choice.how) == ("v9.0.0", "recognised"), choice
    assert "014_widgets.sql is one of v9.0.0's files (by name)" in choice.reason


def test_verification_runs_the_test_release_checks_only_on_its_files(
        test_release: Path, widget_migrations: Path) -> None:
    added: dict[str, tuple[str, str, dict[str, Any]]] = {}

    def add(cid: str, status: str, summary: str, **ev: Any) -> None:
        added[cid] = (status, summary, ev)

    said: list[str] = []
    eff = analyse_files([(n, (widget_migrations / n).read_text()) for n in ["013_widgets.sql"]])
    summary, version = registry.run_checks(None, {}, {}, add, eff,  # type: ignore[arg-type]
                                           lambda text, frac: said.append(text))
    assert version == "9.0.0" and summary["applied"] is True and summary["release"] == "9.0.0"
    assert added["test900.widgets"][0] == "ok"
    assert added["test900.widgets"][2]["files"] == ["013_widgets.sql"]
    assert said == ["the v9.0.0 guide's integrity checks"]
    # v0.4.0's own checks are skipped, saying why
    for cid in ("seed004.messages", "seed004.channels", "seed004.new_indexes"):
        assert added[cid][0] == "skipped" and added[cid][1].startswith("not the v0.4.0 upgrade")
    # the maintenance offers its cleanup job after the shipped releases'
    jobs = registry.cleanup_jobs()
    assert list(jobs) == ["audit-log-90d", "prekeys-30d", "widgets-old"]
    assert jobs["widgets-old"]["release"] == "v9.0.0"
    # the checklist's verify steps report the release's checks with their own
    assert "test900.widgets" in registry.check_ids("schema")
    assert "test900.widgets" not in registry.check_ids("data")

    # files that are not its own: its checks are skipped, with the reason
    added.clear()
    other = analyse_files([("001_base.sql", (widget_migrations / "001_base.sql").read_text())])
    _, version = registry.run_checks(None, {}, {}, add, other,  # type: ignore[arg-type]
                                     lambda text, frac: None)
    assert version is None
    st, summary_text, _ = added["test900.widgets"]
    assert st == "skipped" and "create none of the v9.0.0 widget objects" in summary_text


def test_troubleshooting_lists_and_walks_the_test_release_tree(
        test_release: Path, tmp_path: Path) -> None:
    assert list(TREES)[-2:] == ["v040", "test900"]
    target = resolve_target(dsn="host=127.0.0.1 port=1 dbname=x user=y",
                            state_dir=tmp_path / "state", environ={})
    findings = walk("test900", CheckContext(target))
    assert [(f.check, f.status) for f in findings] == [("test900_widgets", "ok")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["troubleshoot", "--help"]) == 0
    assert "test900" in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["app", "--help"]) == 0
    assert "v0.4.0, v0.8.0 or v9.0.0" in " ".join(out.getvalue().split())


def test_without_the_folder_the_tool_knows_only_its_own_releases(
        test_release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "v9.0.0" in registry.ids() and "test900" in TREES
    monkeypatch.delenv(registry.ENV)
    assert registry.ids() == ["v0.4.0", "v0.8.0"]
    assert "test900" not in TREES and list(TREES)[-1] == "v040"


@pytest.mark.parametrize(("toml", "says"), [
    (CHECKLIST.replace('expects_migrations = ["widgets"]', 'expects_migrations = ["013"]'),
     "names files by version"),
    (CHECKLIST.replace('expects_migrations = ["widgets"]\n', ""), "needs expects_migrations"),
    (CHECKLIST.replace('id = "v9.0.0"', 'id = "v0.4.0"'), "two release folders claim v0.4.0"),
    (CHECKLIST.replace("[recognise.creates]", "[recognise.makes]"), "names no object"),
    (CHECKLIST.replace('tables = ["public.test_widgets"]', 'tablez = ["x"]'),
     "unknown categories"),
    (CHECKLIST.replace('column = "created_at"\n', ""), r"\[cleanup.widgets-old\] needs"),
    ("[meta\n", "is not valid TOML"),
], ids=["version-numbers", "no-expects", "duplicate-id", "no-creates", "bad-category",
        "bad-cleanup", "bad-toml"])
def test_a_release_folder_that_cannot_be_read_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, says: str) -> None:
    _write(tmp_path / "bad" / "checklist.toml", toml)
    monkeypatch.setenv(registry.ENV, str(tmp_path / "bad"))
    with pytest.raises(ReleaseError, match=says):
        registry.releases()
    assert registry.known_ids() == "a release folder's id"  # --help still works
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["troubleshoot", "--help"]) == 0
    assert "connection" in out.getvalue()


# -- the shipped releases: the path the version-number guess chose, now from the files ---------
def test_the_demo_release_files_are_v040_pending_or_half_done() -> None:
    mdir = default_migrations_dir()
    names = _files(mdir)
    applied, pending = names[:12], names[12:]
    assert pending == ["013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
                       "016_live_streaming.sql"]
    c = choose(_status(mdir, applied, pending))
    assert (c.path, c.how) == ("v0.4.0", "recognised"), c
    c = choose(_status(mdir, names[:14], names[14:]))  # mid-upgrade: 013, 014 applied
    assert (c.path, c.how) == ("v0.4.0", "recognised"), c
    assert path_mismatch(_status(mdir, applied, pending), "v0.4.0") is None
    warn = path_mismatch(_status(mdir, applied, pending), "v0.8.0")
    assert warn is not None and "expects no schema change" in warn


def test_real_nchat_files_take_the_default_path_not_by_their_numbers() -> None:
    """00013_billing.sql is version 13, like the guide's first file: it is not v0.4.0's."""
    names = _files(REALNCHAT)
    c = choose(_status(REALNCHAT, [], names))
    assert (c.path, c.how) == ("v0.4.0", "default"), c
    assert "no release folder recognises the pending files" in c.reason
    warn = path_mismatch(_status(REALNCHAT, [], names), "v0.4.0")
    assert warn is not None and "None of the pending files is one the upgrade path v0.4.0 " \
        "expects" in warn


def test_nothing_pending_or_unknown_is_v080_and_unreachable_is_v040(tmp_path: Path) -> None:
    assert choose(_status(tmp_path, ["001_a.sql"], [])).path == "v0.8.0"
    unknown = dataclasses.replace(_status(tmp_path, [], []), pending_known=False,
                                  migrations_dir=None)
    assert choose(unknown).path == "v0.8.0"
    assert choose(None).path == "v0.4.0"
    gone = _status(tmp_path / "missing", [], ["001_a.sql"])
    assert (choose(gone).path, choose(gone).how) == ("v0.4.0", "default")
