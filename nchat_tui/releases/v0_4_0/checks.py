"""The v0.4.0 upgrade guide's own integrity checks ("seed 004"), run by the verification.

The guide's checks (existing messages stay unencrypted, existing channels do not start
enforcing encryption, its 15+ new indexes) only mean something when that release's own files
were applied: the registry runs them only when the applied files are recognised as this
release's (``[recognise]`` in ``checklist.toml``: the E2EE tables and columns their DDL
creates), and records them as skipped, with the reason, otherwise. The generic checks derived
from the applied files' DDL are the verification either way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

from nchat_tui.pg.queries import sql_text
from nchat_tui.releases.release import Add, Recognition

CHECKS = {"seed004.messages": "data", "seed004.channels": "data", "seed004.new_indexes": "schema"}
"""Each check and the verification step that reports it."""
MIN_NEW_INDEXES = 15
"""The guide: "New Indexes: 15"."""


def _rows(conn: psycopg.Connection[Any], name: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return [dict(r) for r in cur.fetchall()]


def run(conn: psycopg.Connection[Any], before: dict[str, Any],
        diff: dict[str, dict[str, Any]], add: Add, why: Recognition) -> None:
    """The guide's integrity checks against the live database (``before``: the snapshot)."""
    taken = before.get("taken_at")
    before_ts = dt.datetime.fromisoformat(taken) if taken else dt.datetime.now(dt.UTC)
    ev = {"recognition": why.as_dict()}

    def has(table: str, column: str) -> bool:
        return bool(_rows(conn, "verify/column_exists.sql",
                          {"schema": "public", "table": table, "column": column})[0]["present"])

    if has("nchat_messages", "is_encrypted") and has("nchat_messages", "created_at"):
        m = _rows(conn, "verify/seed004_messages.sql", {"before": before_ts})[0]
        st = "failed" if m["encrypted_existing"] else "ok"
        add("seed004.messages", st, f"{m['total']} message(s): {m['unencrypted']} "
            f"unencrypted, {m['encrypted']} encrypted"
            + (f"; {m['encrypted_existing']} that existed before are marked encrypted"
               if m["encrypted_existing"] else "; existing messages unencrypted"), **m, **ev)
    else:
        add("seed004.messages", "failed", "nchat_messages.is_encrypted is missing although "
            f"{', '.join(why.files)} add it", **ev)
    if has("nchat_channels", "enforce_encryption") and has("nchat_channels", "created_at"):
        c = _rows(conn, "verify/seed004_channels.sql", {"before": before_ts})[0]
        st = "failed" if c["enforced_existing"] else "ok"
        add("seed004.channels", st, f"{c['total']} channel(s): {c['non_enforced']} not "
            f"enforcing encryption, {c['enforced']} enforcing"
            + (f"; {c['enforced_existing']} that existed before now enforce it"
               if c["enforced_existing"] else "; existing channels unchanged"), **c, **ev)
    else:
        add("seed004.channels", "failed", "nchat_channels.enforce_encryption is missing "
            f"although {', '.join(why.files)} add it", **ev)
    idx = diff.get("indexes", {}).get("added", {})
    valid = sorted(k for k, v in idx.items() if v.get("valid"))
    st = "ok" if len(valid) >= MIN_NEW_INDEXES else "failed"
    add("seed004.new_indexes", st, f"{len(valid)} new valid index(es) (the guide expects "
        f"{MIN_NEW_INDEXES}+)", indexes=valid, **ev)


__all__ = ["CHECKS", "MIN_NEW_INDEXES", "run"]
