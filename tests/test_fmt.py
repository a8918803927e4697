"""nchat_tui.fmt: the one place sizes, counts and durations are formatted. Each case is what the
local copy it replaced printed (the CLI, the screens, the report and the evidence lines)."""

from __future__ import annotations

from nchat_tui import fmt


def test_sizes_in_words_and_terse() -> None:
    assert fmt.size(0) == "0 Bytes"
    assert fmt.size(1536) == "1.5 KiB"
    assert fmt.size(2 * 1024 ** 3) == "2.0 GiB"
    assert fmt.size(None) == "?" and fmt.size("x") == "?" and fmt.size(None, missing="-") == "-"
    assert fmt.size_terse(812) == "812 B" and fmt.size_terse(1536) == "1.5 KiB"
    assert fmt.size_terse(None) == "-"
    assert [fmt.size_short(n) for n in (812, 3.4 * 1024, 614 * 1024 ** 2, 2.5 * 1024 ** 3)] == \
        ["812B", "3.4K", "614M", "2.5G"]
    assert fmt.size_short(None) == "-"


def test_counts() -> None:
    assert fmt.count(12345) == "12,345"
    assert [fmt.count_short(n) for n in (950, 12_000, 8_200_000, 3e9)] == \
        ["950", "12k", "8.2M", "3.0G"]
    assert fmt.count_short(None) == "?"


def test_durations_in_words() -> None:
    assert fmt.duration(0.966) == "966 ms"
    assert fmt.duration(6.6) == "6.6 s"
    assert fmt.duration(125) == "2 min 05 s"
    assert fmt.duration(90 * 60) == "1 h 30 min"
    assert fmt.duration(None) == ""
    assert fmt.seconds_left(12.2) == "13 s" and fmt.seconds_left(0) == "1 s"
    assert fmt.seconds_left(125) == "2 min 05 s"
    assert fmt.elapsed(184.7) == "3 minutes and 4 seconds"
    assert fmt.about(180) == "3 minutes"


def test_terse_durations_ages_and_ratios() -> None:
    assert [fmt.secs_terse(s) for s in (1.23, 185, 7620)] == ["1.2s", "3m05s", "2h07m"]
    assert [fmt.secs_short(s) for s in (1.23, 12.4, 185, 7620)] == ["1.2s", "12s", "3m05", "2h07"]
    assert fmt.secs_terse(None) == "-" and fmt.secs_short(None) == "-"
    now = "2026-12-03T12:00:00+00:00"
    assert fmt.age_short("2026-12-03T11:55:00+00:00", now) == "5m"
    assert fmt.age_short("2026-12-03T09:00:00+00:00", now) == "3h"
    assert fmt.age_short("2026-12-01T12:00:00+00:00", now) == "2d"
    assert fmt.age_short(None, now) == "never" and fmt.age_short("nope", now) == "?"
    assert fmt.pct(0.125) == "12.5%" and fmt.pct(None) == "-"


def test_ago() -> None:
    import datetime as dt

    then = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3, seconds=5)).isoformat()
    assert fmt.ago(then) == "3 minutes ago"
    assert fmt.ago(then.replace("+00:00", "")) == "3 minutes ago"
    assert fmt.ago(None) == "unknown age" and fmt.ago("yesterday") == "yesterday"
