"""The session journal: fsync'd JSON lines, secrets scrubbed, damaged lines tolerated."""

from __future__ import annotations

import json

from nchat_tui.state.journal import Journal, scrub


def test_records_are_appended_and_read_back(tmp_path):
    j = Journal.for_target(tmp_path, "postgres@h:5432/nchat")
    j.append("step", step="pre.connect", state="ok", summary="fine")
    recs = j.records()
    assert [r["event"] for r in recs] == ["session_started", "step"]
    assert [r["seq"] for r in recs] == [1, 2]
    assert recs[1]["user"] and recs[1]["host"]
    assert oct(j.path.stat().st_mode & 0o777) == "0o600"


def test_same_target_resumes_same_session_until_ended(tmp_path):
    a = Journal.for_target(tmp_path, "u@h:1/db")
    b = Journal.for_target(tmp_path, "u@h:1/db")
    assert a.path == b.path
    other = Journal.for_target(tmp_path, "u@h:1/otherdb")
    assert other.path != a.path
    b.append("session_ended")
    c = Journal.for_target(tmp_path, "u@h:1/db")
    assert c.path != a.path
    d = Journal.for_target(tmp_path, "u@h:1/db", new=True)
    assert d.path != c.path


def test_secrets_never_written(tmp_path):
    j = Journal.for_target(tmp_path, "u@h:1/db")
    j.append("command", argv=["pg_dump", "-d", "postgresql://u:hunter22@h/db"],
             conninfo="host=h password=hunter22", password="hunter22", env={"PGPASSWORD": "hunter22"})
    assert "hunter22" not in j.path.read_text()


def test_damaged_last_line_is_tolerated_and_reported(tmp_path):
    j = Journal.for_target(tmp_path, "u@h:1/db")
    j.append("step", step="pre.x", state="ok", summary="")
    with open(j.path, "a") as f:
        f.write('{"seq": 3, "event": "st')  # a crash cut this write
    j2 = Journal(j.path)
    assert len(j2.records()) == 2
    assert len(j2.damaged) == 1
    j2.append("step", step="pre.y", state="ok", summary="")
    lines = j.path.read_text().splitlines()
    assert json.loads(lines[-1])["step"] == "pre.y"  # the new record starts on its own line
    assert len(Journal(j.path).records()) == 3


def test_scrub_nested():
    out = scrub({"a": [{"password": "x"}], "dsn": "postgres://me:pw@host/db", "token": ""})
    assert out == {"a": [{"password": "***"}], "dsn": "postgres://me:***@host/db", "token": ""}
