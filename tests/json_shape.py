"""The shape of a JSON document as ordered lines, for tests that pin a CLI's JSON contract."""

from __future__ import annotations

from typing import Any


def keyed_by_data(d: dict[str, Any]) -> bool:
    """An object keyed by names from the data (``public.nchat_users``, ``013_x.sql``, ``idle
    in transaction``), not by field names: one of its keys is not an identifier."""
    return any(not str(k).isidentifier() for k in d)


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__  # never in parsed JSON


def json_shape(doc: Any) -> list[str]:
    """Every path of ``doc`` with the JSON type found there, in document order, each once:
    ``$.ledger.applied[]: string``. The elements of a list share one path (``[]``), and so do
    the values of an object keyed by data (``[*]``: table or file names), so the shape does
    not depend on how many rows the database holds; a path that holds several types lists
    each of them."""
    out: dict[str, None] = {}

    def walk(v: Any, path: str) -> None:
        out[f"{path}: {json_type(v)}"] = None
        if isinstance(v, dict):
            if v and keyed_by_data(v):
                for x in v.values():
                    walk(x, f"{path}[*]")
            else:
                for k, x in v.items():
                    walk(x, f"{path}.{k}")
        elif isinstance(v, list):
            for x in v:
                walk(x, f"{path}[]")

    walk(doc, "$")
    return list(out)


def key_order(shape: list[str]) -> dict[str, list[str]]:
    """From a ``json_shape``: each object's keys in the order they first appear."""
    out: dict[str, list[str]] = {}
    for line in shape:
        path = line.rsplit(": ", 1)[0]
        parent, dot, key = path.rpartition(".")
        if not dot or "[" in key:
            continue
        keys = out.setdefault(parent, [])
        if key not in keys:
            keys.append(key)
    return out
