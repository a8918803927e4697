"""Evidence as lines an operator reads on an 80-column screen.

A step's or a finding's evidence is JSON-like data (dicts, lists, scalars). ``render`` turns it
into indented ``name: value`` lines a tired operator reads without decoding: names in words
(``free_bytes`` is "free"), sizes and durations humanised (``1.9 GiB``, ``966 ms``), ``yes``
and ``no`` for booleans, a checksum shortened as git does, a list of scalars on one line, a
list of rows one block per row (its nested parts indented under it, or counted in words past
the depth limit), long lists cut with a count of what was left out. A path too long for the
width is shortened in its middle, never in its file name (``w`` in the app shows it whole).
Nothing is hidden silently: every cut says how much it cut. The journal keeps the raw values.
"""

from __future__ import annotations

import json
from typing import Any

from nchat_tui.fmt import duration, size

HIDDEN_KEYS = frozenset({"traceback"})
"""Kept in the journal for the developers, not shown on screen."""

SIZE_KEYS = frozenset({"size", "bytes", "database_size", "free", "total", "needed"})
DURATION_S_SUFFIXES = ("_s", "_seconds")
LABELS = {"is_superuser": "superuser", "in_recovery": "standby (in recovery)",
          "rls_could_hide_rows": "row-level security could hide rows",
          "ledger_written": "ledger row written", "sha256": "sha256",
          "duration_ms": "took", "duration_s": "took", "took_s": "took"}


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


def label(key: str) -> str:
    """A key as words: ``free_bytes`` -> ``free``, ``is_superuser`` -> ``superuser``."""
    if key in LABELS:
        return LABELS[key]
    for suffix in ("_bytes", "_ms", "_s"):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def _is_size_key(key: str) -> bool:
    return key.endswith("_bytes") or key in SIZE_KEYS


def shorten_path(text: str, width: int) -> str:
    """A path no wider than ``width``: the directories after the first give way to "…" from
    the left, the file name stays whole (a name cut in two cannot be read or copied)."""
    if len(text) <= width or "/" not in text:
        return text
    head, _, name = text.rpartition("/")
    parts = head.split("/")
    keep, rest = parts[:2], parts[2:]
    while rest and len("/".join([*keep, "…", *rest, name])) > width:
        rest.pop(0)
    short = "/".join([*keep, "…", *rest, name])
    if len(short) > width:
        short = "…/" + name
    return short if len(short) < len(text) else text


def _is_identifier_key(key: str) -> bool:
    """A number that names something (a pid, a port, an oid, a version): never 10,877."""
    return key in ("pid", "port", "oid", "id", "version", "xid", "run_id", "backend_pid") \
        or key.endswith(("_pid", "_id", "_oid", "_port", "version"))


def _looks_like_path(v: str) -> bool:
    return v.startswith(("/", "~/", "./")) and " " not in v and "\n" not in v


def value(key: str | None, v: Any, width: int | None = None) -> str:
    """One scalar as words, chosen by its key (sizes, durations, checksums, paths)."""
    k = key or ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float) and not isinstance(v, bool):
        if _is_size_key(k):
            return size(v)
        if k.endswith("_ms"):
            return duration(v / 1000)
        if k.endswith(DURATION_S_SUFFIXES):
            return duration(float(v))
        if isinstance(v, int) and abs(v) >= 10000 and not _is_identifier_key(k):
            return f"{v:,}"
        return str(v)
    if isinstance(v, str):
        if k in ("sha256", "checksum") and len(v) > 16:
            return v[:12] + "…"
        if width and _looks_like_path(v):
            return shorten_path(v, width)
        return v
    return json.dumps(v, default=str)


def _cut(s: str, width: int) -> str:
    return s if len(s) <= width else s[: max(1, width - 1)] + "…"


def render(evidence: Any, *, max_items: int = 12, max_depth: int = 4,
           width: int | None = None) -> str:
    """Readable lines for ``evidence`` ("" when there is nothing to show). ``width``: the
    columns available (paths are shortened to fit it; nothing else is cut by it)."""
    if _empty(evidence):
        return ""
    lines: list[str] = []

    def room(pad: str, key: str | None) -> int | None:
        if width is None:
            return None
        return max(20, width - len(pad) - (len(label(key)) + 2 if key else 0))

    def scalars_line(items: list[Any], key: str | None, pad: str) -> str:
        shown = [value(key, x, room(pad, key)) for x in items[: max_items * 2]]
        more = len(items) - max_items * 2
        return ", ".join(shown) + (f" … and {more} more" if more > 0 else "")

    def walk(v: Any, key: str | None, depth: int, pad: str) -> None:
        head = f"{pad}{label(key)}: " if key is not None else pad
        if _empty(v):
            lines.append(f"{head}none")
        elif isinstance(v, dict):
            if depth >= max_depth:
                lines.append(f"{head}{_count(v)}")
                return
            if key is not None:
                lines.append(f"{pad}{label(key)}:")
                pad += "  "
            for k, x in v.items():
                if k not in HIDDEN_KEYS:
                    walk(x, str(k), depth + 1, pad)
        elif isinstance(v, list):
            if not any(isinstance(x, dict | list) for x in v):
                lines.append(head + scalars_line(v, key, pad))
                return
            if depth >= max_depth:
                lines.append(f"{head}{_count(v)}")
                return
            if key is not None:
                lines.append(f"{pad}{label(key)}:")
                pad += "  "
            for x in v[:max_items]:
                row(x, depth + 1, pad)
            if len(v) > max_items:
                lines.append(f"{pad}… and {len(v) - max_items} more")
        else:
            text = value(key, v, room(pad, key))
            lines.append(head + (_cut(text, 400) if isinstance(v, str) else text))

    def row(x: Any, depth: int, pad: str) -> None:
        """One item of a list: its scalars on the bullet line, the rest indented under it."""
        if not isinstance(x, dict):
            if isinstance(x, list):
                lines.append(f"{pad}- " + scalars_line([y for y in x if not isinstance(
                    y, dict | list)], None, pad))
            else:
                lines.append(f"{pad}- {_cut(value(None, x, room(pad, None)), 200)}")
            return
        flat = [(k, y) for k, y in x.items() if k not in HIDDEN_KEYS and not _empty(y)
                and not isinstance(y, dict | list)]
        nested = [(k, y) for k, y in x.items() if k not in HIDDEN_KEYS and not _empty(y)
                  and isinstance(y, dict | list)]
        parts = [f"{label(k)}: {_cut(value(k, y, room(pad, k)), 120)}" for k, y in flat]
        lines.append(f"{pad}- " + (", ".join(parts) if parts else "(nested)"))
        for k, y in nested:
            if depth >= max_depth:
                lines.append(f"{pad}    {label(k)}: {_count(y)}")
            elif isinstance(y, list) and not any(isinstance(z, dict | list) for z in y):
                lines.append(f"{pad}    {label(k)}: " + scalars_line(y, k, pad + "    "))
            else:
                walk(y, k, depth + 1, pad + "    ")

    walk(evidence, None, 0, "")
    return "\n".join(lines)


def _count(v: Any) -> str:
    n = len(v)
    return f"{n} entr{'y' if n == 1 else 'ies'} (in the journal and the report)"
