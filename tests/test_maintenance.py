"""Post-migration maintenance on real PostgreSQL: what to vacuum and refresh after the v0.4.0
upgrade, VACUUM ANALYZE with progress from a second connection, REFRESH CONCURRENTLY, and the
cleanup jobs that count first and delete only when confirmed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal
from nchat_tui.verify.engine import verify_upgrade
from nchat_tui.verify.maintenance import maintenance_plan, refresh_matviews, run_cleanup, vacuum_analyze
from tests.test_verify import backup_then_upgrade


@pytest.fixture
def upgraded(target: Target, tmp_path: Path) -> tuple[Target, Path]:
    return backup_then_upgrade(target, tmp_path)


def test_plan_vacuum_and_refresh(upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    plan = maintenance_plan(t)
    assert "public.nchat_identity_keys" in plan.new_tables and len(plan.new_tables) == 8
    assert "public.nchat_prekey_bundles" in plan.new_tables  # the materialized view
    assert plan.changed_tables == ["public.nchat_channels", "public.nchat_messages"]
    assert plan.matviews == [{"view": "public.nchat_prekey_bundles", "schema": "public",
                              "name": "nchat_prekey_bundles", "populated": True,
                              "unique_index": "idx_prekey_bundles_device",
                              "concurrently": True}]
    before = verify_upgrade(t).check("health.never_analyzed")
    assert before is not None and before.status == "warn"
    asked: list[str] = []

    def confirm(what: str, _facts: dict[str, Any]) -> bool:
        asked.append(what)
        return "nchat_channels" not in what  # the operator declines one

    lines: list[str] = []
    res = vacuum_analyze(t, plan.tables, confirm=confirm, progress=lambda s, _f: lines.append(s))
    assert {r.item: r.status for r in res}["public.nchat_channels"] == "skipped"
    assert all(r.status == "done" for r in res if r.item != "public.nchat_channels")
    assert len(asked) == 10 and any("VACUUM (ANALYZE) public.nchat_messages" in s for s in lines)
    after = verify_upgrade(t).check("health.never_analyzed")
    assert after is not None
    assert after.status == "ok", after.summary
    ref = refresh_matviews(t, plan.matviews)
    assert [(r.item, r.status, r.evidence["concurrently"]) for r in ref] == [
        ("public.nchat_prekey_bundles", "done", True)]
    recs = [r for r in Journal.for_target(t.state_dir, t.masked()).records()
            if str(r.get("event", "")).startswith("maintenance_")]
    assert {r["event"] for r in recs} >= {"maintenance_vacuum", "maintenance_refresh",
                                          "maintenance_decision"}


def test_cleanup_counts_first_and_deletes_only_when_confirmed(
        upgraded: tuple[Target, Path]) -> None:
    t, _ = upgraded
    with t.connect("test") as c:
        c.execute("INSERT INTO nchat_e2ee_audit_log (event_type, created_at) "
                  "SELECT 'session_established', now() - interval '100 days' "
                  "FROM generate_series(1, 3)")
        c.execute("INSERT INTO nchat_e2ee_audit_log (event_type) VALUES ('session_destroyed')")
    shown: list[dict[str, Any]] = []

    def decline(_what: str, facts: dict[str, Any]) -> bool:
        shown.append(facts)
        return False

    res = run_cleanup(t, ["audit-log-90d"], confirm=decline)
    assert shown[0]["rows"] == 3 and res[0].status == "skipped"
    res = run_cleanup(t, ["audit-log-90d", "prekeys-30d"], confirm=lambda _w, _f: True)
    by = {r.item: r for r in res}
    assert by["audit-log-90d"].evidence == {"counted": 3, "deleted": 3}
    assert by["prekeys-30d"].status == "skipped"  # nothing to delete
    with t.connect("test") as c:
        assert c.execute("SELECT count(*) FROM nchat_e2ee_audit_log").fetchone() == (1,)
