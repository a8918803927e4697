"""The fakes the screens' tests run on keep the shape of the real objects they stand for.

A fake stands in only where live figures would drift (snapshots, Pilot tests); these tests fail
as soon as the real object changes shape (a key renamed, added or dropped, a value of another
type) and the fake does not follow: the session, the status behind the home screen, each
action's evidence, the monitor's sample, and the monitor's seams (sampler, backend actions).
"""

from __future__ import annotations

import copy
import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from nchat_tui.demo.builder import default_migrations_dir, load_demo
from nchat_tui.migrate.status import gather_status
from nchat_tui.monitor.model import Sample
from nchat_tui.pg.target import Target, resolve_target
from nchat_tui.upgrade.actions import ACTIONS, Question
from nchat_tui.upgrade.checklist import load_path
from nchat_tui.upgrade.session import UpgradeSession
from tests.fakes import FROZEN_RESULTS, FROZEN_STATUS, FROZEN_STATUS_V080, FakeSession
from tests.shapes import shape_diff

FAKE_ONLY = {"executed", "scripts", "fake_leftovers", "removed", "status"}
"""What the fake adds for its tests to steer it; the screens never touch these."""


@pytest.fixture
def demo_target(pg_db: dict[str, str], pg_cluster: Any, tmp_path: Path) -> Any:
    import psycopg

    load_demo(pg_db, scale=0.02)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    yield resolve_target(dsn=dsn, migrations=default_migrations_dir(),
                         backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                         environ={})
    with psycopg.connect(**pg_cluster.socket_conninfo(), autocommit=True) as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                    (pg_db["dbname"] + "\\_%",)).fetchall():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_shape_diff_sees_renamed_keys_and_other_types() -> None:
    real = {"a": 1, "b": {"c": "x"}, "rows": [{"t": 1.5}], "by_name": {"public.t": 3}}
    assert shape_diff(real, real) == []
    assert shape_diff({**real, "a": "1"}, real) == ["$.a: the fake holds a str, the real a int"]
    renamed = {k if k != "b" else "bb": v for k, v in real.items()}
    assert sorted(shape_diff(renamed, real)) == ["$: key 'b' is missing from the fake",
                                                 "$: key 'bb' is not in the real object"]
    assert shape_diff({**real, "rows": [{"t": 1, "u": 2}]}, real) == \
        ["$.rows[0]: key 'u' is not in the real object"]
    assert shape_diff({**real, "by_name": {"public.other": 4}}, real) == []  # names vary


def test_the_fake_session_has_the_real_sessions_shape(tmp_path: Path) -> None:
    fake = FakeSession(tmp_path / "fake")
    target = resolve_target(dsn="host=127.0.0.1 port=1 dbname=nchat user=postgres",
                            state_dir=tmp_path / "real", environ={})
    real = UpgradeSession(target, status=copy.deepcopy(FROZEN_STATUS))
    public = {n for n in dir(fake) if not n.startswith("_")}
    missing = public - FAKE_ONLY - {n for n in dir(real) if not n.startswith("_")}
    assert not missing, f"the fake offers what the real session lacks: {sorted(missing)}"
    for name, member in vars(FakeSession).items():
        if name.startswith("_") or not callable(member):
            continue
        want = inspect.signature(getattr(UpgradeSession, name))
        got = inspect.signature(member)
        assert [(p.name, p.kind) for p in got.parameters.values()] == \
            [(p.name, p.kind) for p in want.parameters.values()], name
    for attr, value in vars(real).items():
        if not attr.startswith("_"):
            assert isinstance(getattr(fake, attr), type(value)), attr


def test_the_frozen_status_has_the_real_status_shape(demo_target: Target) -> None:
    real = gather_status(demo_target).to_dict()
    assert shape_diff(FROZEN_STATUS.to_dict(), real) == []
    assert shape_diff(FROZEN_STATUS_V080.to_dict(), real) == []


def test_every_frozen_result_has_the_real_actions_shape(demo_target: Target) -> None:
    """Each action the checklists name runs for real once; its evidence is the fake's shape."""
    from nchat_tui.upgrade.steps import ENGINE_ACTIONS

    used = {s.action for p in ("v0.4.0", "v0.8.0") for s in load_path(p).steps() if s.action}
    assert used <= set(ACTIONS) | set(ENGINE_ACTIONS)
    assert used <= set(FROZEN_RESULTS), f"no fake for {sorted(used - set(FROZEN_RESULTS))}"
    answers = {"Run the production migration": "run", "VACUUM ANALYZE and refresh": "go",
               "Choose the way back": "restore", "Swap in the restored database": "yes"}

    def operator(q: Question) -> str:
        return answers.get(q.title, q.default)

    s = UpgradeSession(demo_target, path_id="v0.4.0")
    real: dict[str, Any] = {}
    keys = ["pre.connect", "pre.ledger", "pre.pending", "pre.disk", "pre.backup",
            "migration.review-sql", "migration.dry-run", "SLEEP", "migration.run",
            "migration.no-pending", "post.health", "post.integrity", "post.vacuum",
            "rollback.decide", "rollback.restore", "rollback.verify-rollback"]
    for key in keys:
        if key == "SLEEP":
            time.sleep(1.1)  # the gate compares whole seconds of the backup and the ledger
            continue
        st = s.run_step(key, ask=operator)
        assert st.state in ("ok", "warn"), (key, st.summary)
        real[s.path.step(key).action or ""] = st.evidence
    # rolled back, the files are pending again: what "not yet" looks like
    s.checklist.override("migration.no-pending", "shape test: the run was rolled back")
    real_pending = s.run_step("migration.no-pending").evidence
    drift = {a: shape_diff(FROZEN_RESULTS[a].evidence, ev) for a, ev in real.items()}
    drift["no_pending_migrations"] = shape_diff(FROZEN_RESULTS["no_pending_migrations"].evidence,
                                                real_pending)
    assert {a: d for a, d in drift.items() if d} == {}


def test_the_frozen_monitor_sample_has_the_real_samples_shape(demo_target: Target) -> None:
    from nchat_tui.monitor.sampler import Monitor
    from tests.monitor_fakes import FROZEN_SAMPLE

    m = Monitor(demo_target)
    try:
        m.sample()
        second = m.sample()  # the second carries the rates (deltas) too
    finally:
        m.close()
    assert shape_diff(FROZEN_SAMPLE, second.to_json()) == []
    # the typed sample reads its own JSON back, key for key
    assert Sample.from_json(second.to_json()).to_json() == second.to_json()


# -- the monitor's seams: the fakes the dashboard tests run on are the real seams' shape ------
MONITOR_FAKE_ONLY = {"base", "calls", "events", "panels", "lock", "own"}
"""What the monitor fakes hold for their tests to read; the screens never touch these."""


def _params(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("fake_cls, seam", [("FakeSampler", "Sampler"),
                                            ("FakeActions", "BackendActions")])
def test_the_monitor_fakes_have_the_real_seams_shape(fake_cls: str, seam: str) -> None:
    """Each fake implements its seam (nchat_tui.monitor.seams) exactly as the real Monitor
    does: the same methods, parameters (names, kinds, defaults) and return types; and it
    offers nothing the real Monitor lacks."""
    from typing import get_type_hints

    from nchat_tui.monitor import seams
    from nchat_tui.monitor.sampler import Monitor
    from tests import monitor_fakes

    fake = getattr(monitor_fakes, fake_cls)
    proto = getattr(seams, seam)
    methods = {n for n, m in vars(proto).items() if not n.startswith("_") and callable(m)}
    assert methods, seam
    for name in sorted(methods):
        want = _params(getattr(proto, name))
        assert _params(getattr(fake, name)) == want, (fake_cls, name)
        real = _params(getattr(Monitor, name))
        # the real method may take more, after the seam's parameters, with defaults
        assert real[:len(want)] == want, ("Monitor", name)
        assert all(d is not inspect.Parameter.empty for _, _, d in real[len(want):]), name
        ret = get_type_hints(getattr(proto, name))["return"]
        assert get_type_hints(getattr(fake, name))["return"] == ret, (fake_cls, name)
        assert get_type_hints(getattr(Monitor, name))["return"] == ret, ("Monitor", name)
    public = {n for n, m in vars(fake).items() if not n.startswith("_") and callable(m)}
    assert public <= methods, f"{fake_cls} offers what {seam} lacks: {sorted(public - methods)}"
    instance = fake()
    assert isinstance(instance, proto)
    attrs = {n for n in vars(instance) if not n.startswith("_")}
    assert attrs <= MONITOR_FAKE_ONLY, sorted(attrs - MONITOR_FAKE_ONLY)


def test_the_frozen_monitor_samples_read_as_typed_samples() -> None:
    """The frozen samples are the JSON of a Sample: read as one and written back unchanged;
    a key the types do not know, or a required one missing, is refused."""
    from tests.monitor_fakes import FROZEN_SAMPLE, local_sample

    for frozen in (FROZEN_SAMPLE, local_sample()):
        assert Sample.from_json(frozen).to_json() == frozen
    with pytest.raises(ValueError, match="unknown key 'sessionz'"):
        Sample.from_json({**FROZEN_SAMPLE, "connections": {
            **FROZEN_SAMPLE["connections"], "sessionz": []}})
    with pytest.raises(ValueError, match="key 'locks' missing"):
        Sample.from_json({k: v for k, v in FROZEN_SAMPLE.items() if k != "locks"})
