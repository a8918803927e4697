"""The checklist engine: upgrade paths as data, gates, overrides, replay from the journal."""

from __future__ import annotations

import pytest

from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.checklist import (
    Checklist,
    ChecklistError,
    StepResult,
    known_paths,
    load_path,
)


@pytest.fixture
def journal(tmp_path):
    return Journal.for_target(tmp_path, "u@h:1/db")


def test_both_seed_paths_load_with_four_phases():
    assert {"v0.4.0", "v0.8.0"} <= set(known_paths())
    for pid in ("v0.4.0", "v0.8.0"):
        p = load_path(pid)
        assert [ph.id for ph in p.phases] == ["pre", "migration", "post", "rollback"]
        assert all(s.title and s.guide for s in p.steps())


def test_v040_has_the_seed_004_steps():
    p = load_path("v0.4.0")
    titles = " | ".join(s.title.lower() for s in p.steps())
    for word in ("version", "disk space", "review the migration sql", "dry run",
                 "run the production migration", "verify", "recorded"):
        assert word in titles, word


def test_unknown_gate_is_rejected(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[meta]\nid="x"\ntitle="x"\n[[phase]]\nid="a"\ntitle="A"\n'
                   '[[phase.step]]\nid="s"\ntitle="S"\nkind="manual"\ngated_by=["nope"]\n')
    with pytest.raises(ChecklistError, match="unknown step"):
        load_path(bad)


def test_gate_blocks_until_ok_then_opens(journal):
    cl = Checklist(load_path("v0.4.0"), journal)
    with pytest.raises(ChecklistError, match="gated"):
        cl.start("migration.run")
    assert cl.open_gates("migration.run") == ["pre.backup", "migration.review-sql"]
    cl.start("pre.backup")
    cl.finish("pre.backup", StepResult("ok", "verified: nchat_20261122_030000.dump"))
    cl.start("pre.ledger")
    cl.finish("pre.ledger", StepResult("ok", "go ledger"))
    cl.start("pre.pending")
    cl.finish("pre.pending", StepResult("ok", "4 pending"))
    cl.start("migration.review-sql")
    cl.finish("migration.review-sql", StepResult("warn", "4 files, 2 danger findings"))
    assert cl.open_gates("migration.run") == []
    cl.start("migration.run")
    assert cl.finish("migration.run", StepResult("ok", "applied 4")).state == "ok"


def test_override_needs_a_reason_and_is_journaled(journal):
    cl = Checklist(load_path("v0.4.0"), journal)
    with pytest.raises(ChecklistError, match="reason"):
        cl.override("migration.run", "meh")
    cl.override("migration.run", "backup verified by hand at 02:10, ticket CHG-42")
    cl.start("migration.run")
    ov = journal.last("override")
    assert ov is not None and ov["reason"].startswith("backup verified")
    assert ov["gates"] == ["pre.backup", "migration.review-sql"]


def test_replay_restores_state_and_position(journal):
    cl = Checklist(load_path("v0.4.0"), journal)
    cl.confirm("pre.read-guide", "read it")
    cl.set_position("pre.disk")
    cl2 = Checklist(load_path("v0.4.0"), Journal(journal.path))
    assert cl2.state("pre.read-guide").state == "ok"
    assert cl2.state("pre.read-guide").note == "read it"
    assert cl2.resume_point() == ("pre", "pre.disk")


def test_step_running_at_crash_is_interrupted_on_replay(journal):
    cl = Checklist(load_path("v0.4.0"), journal)
    cl.start("pre.connect")  # ...and the process is killed here
    cl2 = Checklist(load_path("v0.4.0"), Journal(journal.path))
    st = cl2.state("pre.connect")
    assert st.state == "interrupted"
    assert "interrupted" in st.summary
    cl2.start("pre.connect")  # it can be re-run
    assert cl2.finish("pre.connect", StepResult("ok", "fine")).state == "ok"


def test_session_refuses_another_path(journal):
    Checklist(load_path("v0.4.0"), journal)
    with pytest.raises(ChecklistError, match="follows upgrade path"):
        Checklist(load_path("v0.8.0"), Journal(journal.path))


def test_manual_and_auto_are_not_interchangeable(journal):
    cl = Checklist(load_path("v0.4.0"), journal)
    with pytest.raises(ChecklistError, match="manual"):
        cl.start("pre.read-guide")
    with pytest.raises(ChecklistError, match="automated"):
        cl.confirm("pre.connect")
    with pytest.raises(ChecklistError, match="required"):
        cl.skip("pre.connect", "no")


def test_progress_counts_done_steps(journal):
    cl = Checklist(load_path("v0.8.0"), journal)
    assert cl.phase_progress("pre") == (0, 10)
    cl.confirm("pre.read-guide")
    cl.skip("pre.staging", "no staging here")
    assert cl.phase_progress("pre") == (2, 10)
    assert cl.next_step("pre") == "pre.connect"
