"""Migration file discovery: naming styles, up/down pairing, numeric order, warnings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nchat_tui.migrate.discovery import discover


def _write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (d / name).write_text(body)


def test_three_styles_ordered_numerically(tmp_path: Path) -> None:
    _write(tmp_path, {
        "003_x.sql": "select 3;",
        "0007_y.sql": "select 7;",
        "00013_z.sql": "select 13;",
        "20260203070900_ts.up.sql": "select 'ts';",
        "20260203070900_ts.down.sql": "select 'down';",
        "015_voice.sql": "select 15;",
        "015_voice.down.sql": "select -15;",
        "README.md": "not sql",
    })
    disc = discover(tmp_path)
    assert [f.name for f in disc.files] == [
        "003_x.sql", "0007_y.sql", "00013_z.sql", "015_voice.sql", "20260203070900_ts.up.sql"]
    assert [f.version for f in disc.files] == [3, 7, 13, 15, 20260203070900]
    assert [f.prefix for f in disc.files] == ["003", "0007", "00013", "015", "20260203070900"]
    # the current Go CLI's nself_ops.migrations id: the file name without ".sql"
    assert [f.ledger_id for f in disc.files] == ["003_x", "0007_y", "00013_z", "015_voice",
                                                 "20260203070900_ts.up"]
    assert [f.legacy_ledger_id for f in disc.files] == ["003", "0007", "00013", "015",
                                                        "20260203070900"]
    assert [f.style for f in disc.files] == ["numbered"] * 4 + ["timestamp"]
    ts = disc.files[-1]
    assert ts.down_path == tmp_path / "20260203070900_ts.down.sql"
    assert disc.files[3].down_path == tmp_path / "015_voice.down.sql"
    assert disc.files[0].down_path is None
    assert not any(f.name.endswith(".down.sql") for f in disc.files)
    assert ts.sha256() == hashlib.sha256(b"select 'ts';").hexdigest()
    # plain name order puts 00013 and 0007 before 003: warned, with the inversions named
    order_warn = [w for w in disc.warnings if "plain name order" in w]
    assert len(order_warn) == 1
    assert "00013_z.sql before 003_x.sql" in order_warn[0]
    assert "0007_y.sql before 003_x.sql" in order_warn[0]
    assert [f.name for f in disc.name_order()][:3] == ["00013_z.sql", "0007_y.sql", "003_x.sql"]


def test_no_warning_when_name_order_agrees(tmp_path: Path) -> None:
    _write(tmp_path, {"013_a.sql": "", "014_b.sql": "", "015_c.sql": "", "016_d.sql": ""})
    disc = discover(tmp_path)
    assert [f.version for f in disc.files] == [13, 14, 15, 16]
    assert disc.warnings == []


def test_duplicates_unparseable_and_orphans(tmp_path: Path) -> None:
    _write(tmp_path, {
        "013_a.sql": "",
        "0013_b.sql": "",
        "014_c.sql": "",
        "014_d.sql": "",
        "seed_data.sql": "",
        "099_gone.down.sql": "",
    })
    disc = discover(tmp_path)
    assert [f.name for f in disc.files] == ["0013_b.sql", "013_a.sql", "014_c.sql", "014_d.sql"]
    assert disc.skipped == ["seed_data.sql"]
    assert disc.orphan_downs == ["099_gone.down.sql"]
    text = "\n".join(disc.warnings)
    assert "duplicate version 13: 0013_b.sql, 013_a.sql" in text
    assert "duplicate version 14: 014_c.sql, 014_d.sql" in text
    assert "one nself_ops.migrations id" in text  # 014 and 014
    assert "seed_data.sql: not a migration name" in text
    assert "099_gone.down.sql: a down file without its up file" in text


def test_go_style_up_down_name_is_paired(tmp_path: Path) -> None:
    """The Go CLI looks for X.up.down.sql; accept it when nChat's X.down.sql is absent."""
    _write(tmp_path, {"20260101000000_a.up.sql": "", "20260101000000_a.up.down.sql": ""})
    disc = discover(tmp_path)
    assert len(disc.files) == 1
    assert disc.files[0].down_path == tmp_path / "20260101000000_a.up.down.sql"
    assert disc.orphan_downs == []


def test_fourteen_digits_that_are_no_date_are_numbered(tmp_path: Path) -> None:
    _write(tmp_path, {"99999999999999_x.sql": ""})
    assert discover(tmp_path).files[0].style == "numbered"


def test_find_and_missing_dir(tmp_path: Path) -> None:
    _write(tmp_path, {"013_a.sql": "", "20260203070900_b.up.sql": ""})
    disc = discover(tmp_path)
    assert disc.find("013") is disc.files[0]
    assert disc.find("13") is disc.files[0]
    assert disc.find("20260203070900_b.up.sql") is disc.files[1]
    assert disc.find("nope") is None
    missing = discover(tmp_path / "missing")
    assert missing.files == [] and "does not exist" in missing.warnings[0]


def test_older_bash_underscore_down_files(tmp_path: Path) -> None:
    _write(tmp_path, {"20260101120000_add_x.sql": "", "20260101120000_add_x_down.sql": "",
                      "005_slow_down.sql": ""})
    disc = discover(tmp_path)
    assert [f.name for f in disc.files] == ["005_slow_down.sql", "20260101120000_add_x.sql"]
    assert disc.files[1].down_path == tmp_path / "20260101120000_add_x_down.sql"
    assert any("would run these as UP migrations" in w for w in disc.warnings)
    # the current Go CLI skips every *_down.sql: 005_slow_down.sql would never run under it
    assert any(w.startswith("005_slow_down.sql: an up migration whose name ends in _down.sql")
               for w in disc.warnings)
