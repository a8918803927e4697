"""Restored copies compared by meaning (issue 10 item 1), on real PostgreSQL with the real
pg_dump and pg_restore: a varchar ``CHECK (... IN (...))`` (real nChat's tenant tables), an
index predicate, a trigger ``WHEN``, a domain check and a view body deparse differently after
the round trip, yet the restore rollback and ``verify-backup --test-restore`` accept the copy;
a really missing or changed constraint, index or column is still caught, either way round.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from nchat_tui.backup.engine import manifest_path_for, run_backup, verify_backup
from nchat_tui.errors import OperationFailed
from nchat_tui.pg.target import Target
from nchat_tui.rollback.engine import admin_connect, drop_old_database, restore_swap

# Our own SQL with the traits of real nChat's 20260203070945_tenant_tables.up.sql.
TENANTS_SQL = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE DOMAIN billing_interval AS VARCHAR(10) CHECK (VALUE IN ('monthly', 'yearly'));
CREATE TABLE public.tenants (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  slug VARCHAR(50) NOT NULL UNIQUE,
  status VARCHAR(20) NOT NULL DEFAULT 'active'
    CHECK (status IN ('trial', 'active', 'suspended', 'cancelled')),
  billing_plan VARCHAR(20) NOT NULL DEFAULT 'free'
    CHECK (billing_plan IN ('free', 'starter', 'pro', 'business', 'enterprise')),
  billing_interval billing_interval NOT NULL DEFAULT 'monthly',
  limits JSONB NOT NULL DEFAULT '{"maxUsers": 5, "maxChannels": 10}'::jsonb,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_tenants_live ON public.tenants(slug) WHERE status IN ('trial', 'active');
CREATE FUNCTION touch_tenant() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER trg_tenants_touch BEFORE UPDATE ON public.tenants FOR EACH ROW
  WHEN (NEW.status IN ('trial', 'active')) EXECUTE FUNCTION touch_tenant();
CREATE VIEW active_tenants AS SELECT id, slug FROM public.tenants
  WHERE status IN ('trial', 'active');
INSERT INTO public.tenants (slug, status)
SELECT 'tenant' || g, (ARRAY['trial', 'active', 'suspended'])[1 + g % 3]
FROM generate_series(1, 60) g;
"""


@pytest.fixture
def backed_up(target: Target) -> tuple[Target, Path]:
    with target.connect("test") as conn:
        conn.execute(TENANTS_SQL)
    return target, Path(run_backup(target).path)


def _edit_manifest(dump: Path, edit: Any) -> dict[str, Any]:
    mpath = manifest_path_for(dump)
    original = json.loads(mpath.read_text())
    changed = copy.deepcopy(original)
    edit(changed["snapshot"]["inventory"])
    mpath.write_text(json.dumps(changed))
    return original


def _test_restore(t: Target, dump: Path) -> Any:
    return verify_backup(dump, test_restore=True, target=t, update_manifest=False)


def test_restored_copy_that_only_deparses_differently_is_accepted(
        backed_up: tuple[Target, Path]) -> None:
    t, dump = backed_up
    v = _test_restore(t, dump)
    assert v.ok, v.failure
    schema = next(c for c in v.checks if c["check"] == "restore_schema")
    assert schema["ok"] and "deparse differently but mean the same" in schema["detail"]
    assert v.test_restore is not None and v.test_restore["schema"]["same_meaning"] >= 5
    # The restore rollback accepts the same copy and swaps it in.
    res = restore_swap(t, dump, confirm_name=t.database)
    with t.connect("test") as conn:
        row = conn.execute("SELECT count(*) FROM tenants").fetchone()
        assert row is not None and row[0] == 60
    drop_old_database(t, res.old_database, res.old_database)


def _constraint(inv: dict[str, Any], values: str) -> None:
    k = "public.tenants.tenants_status_check"
    inv["constraints"][k]["definition"] = (
        f"CHECK (((status)::text = ANY ((ARRAY[{values}])::text[])))")


CASES = {
    # the backup recorded a wider check than the copy has
    "constraint changed (wider in the backup)": lambda inv: _constraint(
        inv, "'trial'::character varying, 'active'::character varying, "
             "'suspended'::character varying, 'cancelled'::character varying, "
             "'deleted'::character varying"),
    # the backup recorded a narrower check than the copy has
    "constraint changed (narrower in the backup)": lambda inv: _constraint(
        inv, "'trial'::character varying, 'active'::character varying"),
    "constraint missing from the copy": lambda inv: inv["constraints"].__setitem__(
        "public.tenants.tenants_extra_check",
        {**inv["constraints"]["public.tenants.tenants_status_check"]}),
    "constraint extra in the copy": lambda inv: inv["constraints"].pop(
        "public.tenants.tenants_billing_plan_check"),
    "index predicate changed": lambda inv: inv["indexes"]["public.idx_tenants_live"].update(
        definition=inv["indexes"]["public.idx_tenants_live"]["definition"].replace(
            "'active'", "'suspended'")),
    "index missing from the copy": lambda inv: inv["indexes"].__setitem__(
        "public.idx_tenants_gone", {**inv["indexes"]["public.idx_tenants_live"]}),
    "column missing from the copy": lambda inv: inv["columns"].__setitem__(
        "public.tenants.region", {**inv["columns"]["public.tenants.slug"], "position": 9}),
    "column default changed": lambda inv: inv["columns"]["public.tenants.status"].update(
        default="'trial'::character varying"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_really_different_copies_are_still_caught(backed_up: tuple[Target, Path],
                                                  case: str) -> None:
    t, dump = backed_up
    _edit_manifest(dump, CASES[case])
    v = _test_restore(t, dump)
    assert not v.ok and v.failure is not None and v.failure.startswith("restore_schema:"), \
        v.checks
    with pytest.raises(OperationFailed, match="differs from the backup's inventory"):
        restore_swap(t, dump, confirm_name=t.database)
    with admin_connect(t, "test") as a:  # production untouched, the copy dropped
        names = [r[0] for r in a.execute("SELECT datname FROM pg_database")]
    # this database's copy (other tests' kept databases share the cluster)
    mine = t.database[:30]
    assert t.database in names and not [n for n in names if n.startswith(mine)
                                        and "_restore_" in n]
