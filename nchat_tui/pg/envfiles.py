"""Read an nself backend's env files the way the nself CLIs do.

Two cascades exist in the wild (see shared/NCHAT.md): the Go CLI (v1.x) loads ``.env``,
``.env.<env>``, ``.env.secrets`` then ``.env.local`` (last wins); the Bash CLI (v0.9) loads
``.env.dev``, ``.env.local``, ``.env.<env>`` then ``.env`` (last wins). Values are returned,
never printed: they hold passwords.
"""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def parse_env_text(text: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """Parse dotenv text: ``KEY=value``, ``export KEY=...``, quotes, comments, ``${VAR}``."""
    values: dict[str, str] = {}
    scope = dict(base or {})
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        key, val = m.group(1), m.group(2).strip()
        if val[:1] in ("'", '"'):
            quote = val[0]
            end = val.find(quote, 1)
            inner = val[1:end] if end > 0 else val[1:]
            val = inner if quote == "'" else _expand(inner, scope)
        else:
            val = re.split(r"\s+#", val, maxsplit=1)[0].strip()
            val = _expand(val, scope)
        values[key] = val
        scope[key] = val
    return values


def _expand(val: str, scope: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        default = m.group(2)
        got = scope.get(name)
        if got in (None, "") and default is not None:
            return default
        return got or ""

    return _REF.sub(sub, val)


def cascade_files(backend_dir: Path, cascade: str, env_name: str) -> list[Path]:
    """The env files of ``backend_dir`` in load order (later wins), as the chosen CLI reads them."""
    if cascade == "bash":
        names = [".env.dev", ".env.local"]
        if env_name != "dev":
            names.append(f".env.{env_name}")
        names.append(".env")
    elif cascade == "go":
        names = [".env", f".env.{env_name}", ".env.secrets", ".env.local"]
    else:
        raise ValueError(f"unknown env cascade {cascade!r} (expected 'go' or 'bash')")
    return [backend_dir / n for n in names if (backend_dir / n).is_file()]


def load_backend_env(backend_dir: Path, cascade: str = "go") -> tuple[dict[str, str], list[Path]]:
    """Merge the backend's env files; returns the values and the files read, in order."""
    # The environment name itself comes from the files (ENV / NSELF_ENV), defaulting to dev.
    first_pass: dict[str, str] = {}
    for name in (".env", ".env.local"):
        p = backend_dir / name
        if p.is_file():
            first_pass.update(parse_env_text(p.read_text(errors="replace")))
    env_name = first_pass.get("ENV") or first_pass.get("NSELF_ENV") or "dev"
    env_name = {"development": "dev", "production": "prod"}.get(env_name, env_name)
    merged: dict[str, str] = {}
    files = cascade_files(backend_dir, cascade, env_name)
    for p in files:
        merged.update(parse_env_text(p.read_text(errors="replace"), merged))
    return merged, files
