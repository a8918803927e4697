"""Compare the shape of a fake with the real object it stands for: keys and value types."""

from __future__ import annotations

from typing import Any

NUMBER = (int, float)


def keyed_by_data(d: dict[str, Any]) -> bool:
    """A dict keyed by names from the data (``public.nchat_users``, ``013_x.sql``, ``idle in
    transaction``), not by field names: its keys vary, its values' shape does not."""
    return len(d) > 12 or any(not str(k).isidentifier() for k in d)


def shape_diff(fake: Any, real: Any, where: str = "$") -> list[str]:
    """Where ``fake`` differs in shape from ``real``: missing or extra keys (recursively),
    and values of another type (None on either side is taken as "nullable"; int and float
    are both numbers; a list is compared by its first element when both have one)."""
    if fake is None or real is None:
        return []
    if isinstance(real, dict):
        if not isinstance(fake, dict):
            return [f"{where}: the fake is a {type(fake).__name__}, the real a dict"]
        if keyed_by_data(real) or keyed_by_data(fake):
            # a map from names (tables, files, states) to values: compare the values
            if fake and real:
                return shape_diff(next(iter(fake.values())), next(iter(real.values())),
                                  f"{where}[*]")
            return []
        out = [f"{where}: key {k!r} is missing from the fake" for k in real if k not in fake]
        out += [f"{where}: key {k!r} is not in the real object" for k in fake if k not in real]
        for k in real:
            if k in fake:
                out += shape_diff(fake[k], real[k], f"{where}.{k}")
        return out
    if isinstance(real, list | tuple):
        if not isinstance(fake, list | tuple):
            return [f"{where}: the fake is a {type(fake).__name__}, the real a list"]
        if fake and real:
            return shape_diff(fake[0], real[0], f"{where}[0]")
        return []
    if isinstance(real, bool) or isinstance(fake, bool):
        same = isinstance(real, bool) and isinstance(fake, bool)
    elif isinstance(real, NUMBER):
        same = isinstance(fake, NUMBER)
    else:
        same = isinstance(fake, type(real))
    return [] if same else [f"{where}: the fake holds a {type(fake).__name__}, the real a "
                            f"{type(real).__name__}"]
