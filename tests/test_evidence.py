"""Evidence rendering for the screens: readable words, bounded, and never silent about a cut."""

from __future__ import annotations

from nchat_tui.report.evidence import render, shorten_path


def test_nested_run_evidence_reads_as_indented_lines() -> None:
    ev = {"status": "ok", "committed": ["013_a.sql", "014_b.sql"], "rolled_back": [],
          "run": {"direction": "down",
                  "files": [{"file": "016_x.down.sql", "status": "committed",
                             "ledger_written": True, "duration_ms": 85.3,
                             "statements": [{"index": i} for i in range(25)]}]},
          "traceback": "Traceback (most recent call last): ..."}
    assert render(ev, max_depth=3).splitlines() == [
        "status: ok",
        "committed: 013_a.sql, 014_b.sql",
        "rolled back: none",
        "run:",
        "  direction: down",
        "  files:",
        "    - file: 016_x.down.sql, status: committed, ledger row written: yes, took: 85 ms",
        "        statements: 25 entries (in the journal and the report)",
    ]


def test_values_read_as_words_not_raw_data() -> None:
    """No `evidence={6}`, no `True`, no sizes in bytes (issue 11)."""
    ev = {"is_superuser": True, "in_recovery": False, "database_size": 200924519,
          "free_bytes": 82536079360, "duration_s": 6.6, "duration_ms": 966.5,
          "sha256": "7dea01d9cfd88592e0bcf42bd0a25fed6e6fbc00", "rows": 580867,
          "checks": [{"id": "data.row_counts", "status": "ok",
                      "evidence": {"tables": 43, "counted_as": "postgres"}}]}
    text = render(ev)
    assert "superuser: yes" in text and "standby (in recovery): no" in text
    assert "database size: 191.6 MiB" in text and "free: 76.9 GiB" in text
    assert "took: 6.6 s" in text and "took: 966 ms" in text
    assert "sha256: 7dea01d9cfd8…" in text and "rows: 580,867" in text
    assert "{" not in text and "True" not in text and "200924519" not in text
    assert "counted as: postgres" in text
    assert render({"pid": 10877, "port": 54321}) == "pid: 10877\nport: 54321"


def test_a_long_path_keeps_its_file_name_whole() -> None:
    p = "/var/lib/nchat-tui/demo-app/backups/nchat_20261203_094514.dump"
    short = shorten_path(p, 38)
    assert short.endswith("/nchat_20261203_094514.dump") and "…" in short and len(short) <= 38
    assert shorten_path(p, 200) == p
    text = render({"path": p}, width=40)
    assert text.endswith("nchat_20261203_094514.dump") and len(text) <= 40


def test_long_lists_say_how_much_was_cut() -> None:
    rows = [{"table": f"t{i}", "rows": i} for i in range(40)]
    text = render({"tables": rows, "names": [f"n{i}" for i in range(50)]}, max_items=5)
    lines = text.splitlines()
    assert lines[:2] == ["tables:", "  - table: t0, rows: 0"]
    assert "  … and 35 more" in lines
    assert lines[-1].endswith("n9 … and 40 more")


def test_rows_at_the_top_and_empty_values() -> None:
    assert render([{"table": "public.nchat_users", "deleted": 100, "note": None}]) == \
        "- table: public.nchat_users, deleted: 100"
    assert render(None) == "" and render({}) == "" and render([]) == ""
    assert render("plain") == "plain"
    long = "x" * 200
    assert render([{"query": long}]).endswith("…")
