"""Evidence rendering for the screens: readable, bounded, and never silent about a cut."""

from __future__ import annotations

from nchat_tui.evidence import render


def test_nested_run_evidence_reads_as_indented_lines() -> None:
    ev = {"status": "ok", "committed": ["013_a.sql", "014_b.sql"], "rolled_back": [],
          "run": {"direction": "down",
                  "files": [{"file": "016_x.down.sql", "status": "committed",
                             "statements": [{"index": i} for i in range(25)]}]},
          "traceback": "Traceback (most recent call last): ..."}
    assert render(ev).splitlines() == [
        "status: ok",
        "committed: 013_a.sql, 014_b.sql",
        "rolled_back: none",
        "run:",
        "  direction: down",
        "  files:",
        "    - file=016_x.down.sql, status=committed, statements=[25]",
    ]


def test_long_lists_say_how_much_was_cut() -> None:
    rows = [{"table": f"t{i}", "rows": i} for i in range(40)]
    text = render({"tables": rows, "names": [f"n{i}" for i in range(50)]}, max_items=5)
    lines = text.splitlines()
    assert lines[:2] == ["tables:", "  - table=t0, rows=0"]
    assert "  … and 35 more" in lines
    assert lines[-1].endswith("n9 … and 40 more")


def test_rows_at_the_top_and_empty_values() -> None:
    assert render([{"table": "public.nchat_users", "deleted": 100, "note": None}]) == \
        "- table=public.nchat_users, deleted=100"
    assert render(None) == "" and render({}) == "" and render([]) == ""
    assert render("plain") == "plain"
    long = "x" * 200
    assert render([{"query": long}]).endswith("…")
