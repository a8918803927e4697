"""Sizes, counts and durations as an operator reads them: the one place they are formatted.

Built on ``humanize``; every layer (engines, CLI, screens) formats through here, so a size reads
the same in a plan, a step summary and a report. Two registers:

- words, for sentences and reports: ``size`` (``1.9 GiB``), ``count`` (``12,345``),
  ``duration`` (``966 ms``, ``6.6 s``, ``2 min 05 s``, ``1 h 30 min``), ``seconds_left`` (whole
  seconds, rounded up: what a progress line promises), ``elapsed`` and ``about`` (humanize's
  ``precisedelta`` / ``naturaldelta``: ``3 minutes and 4 seconds``, ``3 minutes``), ``ago``
  (``3 minutes ago``);
- terse, for table cells and the monitor's one-line summaries: ``size_terse`` (``1.5 GiB``,
  ``812 B``), ``size_short`` and ``count_short`` (at most 5 characters: ``3.4K``, ``8.2M``),
  ``secs_terse`` (``1.2s``, ``3m05s``), ``secs_short`` (``12s``, ``3m05``), ``age_short``
  (``5m``, ``3h``, ``2d``), ``pct``.

A value that is not a number (``None``, a missing key) becomes the ``missing`` text given
(each function's default is what its screens showed before).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import humanize


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# -- words -------------------------------------------------------------------------------------
def size(n: Any, missing: str = "?") -> str:
    """Bytes in binary units: ``1.9 GiB``, ``812 Bytes``."""
    return str(humanize.naturalsize(n, binary=True)) if _num(n) else missing


def count(n: int | float) -> str:
    """A count with thousands separators: ``12,345``."""
    return str(humanize.intcomma(n))


def duration(seconds: float | None, missing: str = "") -> str:
    """``966 ms``, ``6.6 s`` (under 90 s), ``2 min 05 s``, ``1 h 30 min`` (from 90 min)."""
    if seconds is None:
        return missing
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m < 90 else f"{m // 60} h {m % 60:02d} min"


def seconds_left(seconds: float) -> str:
    """A time still to go, in whole seconds rounded up (never 0): ``13 s``, ``2 min 05 s``."""
    s = max(1, int(seconds + 0.999))
    return f"{s} s" if s < 90 else f"{s // 60} min {s % 60:02d} s"


def elapsed(seconds: float) -> str:
    """Whole seconds in words: ``3 minutes and 4 seconds``."""
    return str(humanize.precisedelta(dt.timedelta(seconds=int(seconds))))


def ago(iso: str | None) -> str:
    """How long ago an ISO timestamp was, in words: ``3 minutes ago`` (no zone: UTC); the text
    itself when it is not a timestamp, ``unknown age`` without one."""
    if not iso:
        return "unknown age"
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return str(humanize.naturaltime(dt.datetime.now(dt.UTC) - t))


def about(seconds: float) -> str:
    """A rough span in words: ``3 minutes``, ``an hour``."""
    return str(humanize.naturaldelta(dt.timedelta(seconds=seconds)))


# -- terse -------------------------------------------------------------------------------------
def size_terse(n: Any, missing: str = "-") -> str:
    """Bytes with one decimal: ``1.5 GiB``, ``812 B``."""
    if not _num(n):
        return missing
    return str(humanize.naturalsize(n, binary=True, format="%.1f")).replace("Bytes", "B")


def size_short(n: Any, missing: str = "-") -> str:
    """Bytes in at most 5 characters: 812B, 3.4K, 614M, 2.5G."""
    if not _num(n):
        return missing
    n = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if n >= 10 or unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return missing


def count_short(n: Any, missing: str = "?") -> str:
    """A count in at most 5 characters: 950, 12k, 8.2M."""
    if not _num(n):
        return missing
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{n:.0f}"


def secs_terse(s: Any, missing: str = "-") -> str:
    """``1.2s`` (under a minute), ``3m05s``, ``2h07m``."""
    if s is None:
        return missing
    s = float(s)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def secs_short(s: Any, missing: str = "-") -> str:
    """For a table cell: ``1.2s`` (under 10 s), ``12s``, ``3m05``, ``2h07``."""
    if s is None:
        return missing
    s = float(s)
    if s < 10:
        return f"{s:.1f}s"
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}"


def age_short(then: Any, now: Any) -> str:
    """How long ago an ISO timestamp was, relative to ``now`` (ISO too; empty: the clock):
    ``5m``, ``3h``, ``2d``; ``never`` without ``then``."""
    if not then:
        return "never"
    try:
        t0 = dt.datetime.fromisoformat(str(then))
        t1 = dt.datetime.fromisoformat(str(now)) if now else dt.datetime.now(dt.UTC)
    except ValueError:
        return "?"
    secs = max(0.0, (t1 - t0).total_seconds())
    if secs < 3600:
        return f"{secs / 60:.0f}m"
    if secs < 86400:
        return f"{secs / 3600:.0f}h"
    return f"{secs / 86400:.0f}d"


def pct(r: Any, missing: str = "-") -> str:
    """A ratio as a percentage with one decimal: ``12.5%``."""
    return f"{100 * float(r):.1f}%" if r is not None else missing
