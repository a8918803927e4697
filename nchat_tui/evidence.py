"""Evidence as lines an operator reads on an 80-column screen.

A step's or a finding's evidence is JSON-like data (dicts, lists, scalars). ``render`` turns it
into indented ``key: value`` lines: a list of scalars on one line, a list of rows one line per
row (``k=v, k=v``), nested dicts indented, long lists cut with a count of what was left out.
Nothing is hidden silently: every cut says how much it cut.
"""

from __future__ import annotations

import json
from typing import Any

HIDDEN_KEYS = frozenset({"traceback"})
"""Kept in the journal for the developers, not shown on screen."""


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


def _scalar(v: Any, width: int = 60) -> str:
    s = json.dumps(v, default=str) if isinstance(v, list | dict) else str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


def _row(r: dict[str, Any]) -> str:
    """A dict in a list as one line: its scalar fields, and how many items nested ones hold."""
    parts = []
    for k, v in r.items():
        if k in HIDDEN_KEYS or _empty(v):
            continue
        if isinstance(v, list):
            parts.append(f"{k}=[{len(v)}]" if any(isinstance(x, dict | list) for x in v)
                         else f"{k}={_scalar(', '.join(map(str, v)))}")
        elif isinstance(v, dict):
            parts.append(f"{k}={{{len(v)}}}")
        else:
            parts.append(f"{k}={_scalar(v)}")
    return ", ".join(parts) or "(empty)"


def render(evidence: Any, *, max_items: int = 12, max_depth: int = 3) -> str:
    """Readable lines for ``evidence`` ("" when there is nothing to show)."""
    if _empty(evidence):
        return ""
    lines: list[str] = []

    def walk(value: Any, key: str | None, depth: int) -> None:
        pad = "  " * depth
        head = f"{pad}{key}: " if key is not None else pad
        if _empty(value):
            lines.append(f"{head}none")
        elif isinstance(value, dict):
            if depth >= max_depth:
                lines.append(f"{head}{_scalar(value)}")
                return
            if key is not None:
                lines.append(f"{pad}{key}:")
            inner = depth + (1 if key is not None else 0)
            for k, v in value.items():
                if k not in HIDDEN_KEYS:
                    walk(v, str(k), inner)
        elif isinstance(value, list):
            nested = any(isinstance(x, dict | list) for x in value)
            if not nested:
                shown = ", ".join(map(str, value[: max_items * 2]))
                more = len(value) - max_items * 2
                lines.append(f"{head}{shown}" + (f" … and {more} more" if more > 0 else ""))
                return
            bullet = f"{pad}  - " if key is not None else f"{pad}- "
            if key is not None:
                lines.append(f"{pad}{key}:")
            for x in value[:max_items]:
                lines.append(bullet + (_row(x) if isinstance(x, dict) else _scalar(x)))
            if len(value) > max_items:
                lines.append(f"{bullet[:-2]}… and {len(value) - max_items} more")
        else:
            lines.append(f"{head}{value}")

    walk(evidence, None, 0)
    return "\n".join(lines)
