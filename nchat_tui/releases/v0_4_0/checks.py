"""The v0.4.0 upgrade guide's own integrity checks ("seed 004"), and when they apply.

Release-specific code, kept apart so it can move to ``releases/v0.4.0/`` as it is. The
guide's checks (existing messages stay unencrypted, existing channels do not start enforcing
encryption, its 15+ new indexes) only mean something when that release's own files were
applied. They are recognised by what the applied files do, read from their DDL
(``ddl_effects``): the guide's E2EE migration creates the device-key tables and adds
``is_encrypted``/``sender_device_id`` to ``nchat_messages`` and ``enforce_encryption`` to
``nchat_channels``. A version number says nothing: real nChat's
``00013_billing_and_subscriptions.sql`` is version 13 and creates billing tables.
When the files are not recognised, the checks are ``skipped`` with the reason; the generic
checks derived from the applied files' DDL are the verification either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from nchat_tui.migrate.ddl_effects import Effects
from nchat_tui.pg.objkeys import key
from nchat_tui.pg.queries import sql_text

RELEASE = "0.4.0"
CHECK_IDS = ("seed004.messages", "seed004.channels", "seed004.new_indexes")
MIN_NEW_INDEXES = 15
"""The guide: "New Indexes: 15"."""

SIGNATURE: dict[str, tuple[str, ...]] = {
    # The guide's "New Database Tables" (migration 014_e2ee_system.sql)...
    "tables": tuple(key("public", t) for t in (
        "nchat_user_master_keys", "nchat_identity_keys", "nchat_signed_prekeys",
        "nchat_one_time_prekeys", "nchat_signal_sessions", "nchat_safety_numbers",
        "nchat_e2ee_audit_log")),
    # ... and its "Table Modifications", which the guide's integrity checks read.
    "columns": tuple(key("public", t, c) for t, c in (
        ("nchat_messages", "is_encrypted"), ("nchat_messages", "encrypted_payload"),
        ("nchat_messages", "sender_device_id"), ("nchat_channels", "enforce_encryption"))),
}


@dataclass
class Recognition:
    """Whether the applied files are the v0.4.0 release's, and why (or why not)."""

    applied: bool
    reason: str
    files: list[str] = field(default_factory=list)
    """The applied files that create the release's objects."""
    missing: list[str] = field(default_factory=list)
    """The release's objects none of the applied files creates."""


def recognise(eff: Effects) -> Recognition:
    """Recognise the v0.4.0 release's files among those ``eff`` was read from."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for cat, keys in SIGNATURE.items():
        for k in keys:
            file = eff.creates.get(cat, {}).get(k)
            if file:
                found[k] = file
            else:
                missing.append(k)
    files = sorted(set(found.values()))
    if not eff.files:
        return Recognition(False, "no migration file was applied by this upgrade")
    if not missing:
        verb = "creates" if len(files) == 1 else "create"
        return Recognition(True, f"{', '.join(files)} {verb} the v{RELEASE} E2EE tables and "
                           "the new nchat_messages/nchat_channels columns", files)
    if not found:
        return Recognition(False, f"the applied files ({', '.join(eff.files[:5])}"
                           + (" ..." if len(eff.files) > 5 else "") + f") create none of the "
                           f"v{RELEASE} E2EE objects: not that release's migrations", [],
                           missing)
    return Recognition(False, f"the applied files create only part of the v{RELEASE} E2EE "
                       f"objects ({len(found)} of {len(found) + len(missing)}; missing "
                       f"{', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else "")
                       + "): not that release's full migration", files, missing)


def _rows(conn: psycopg.Connection[Any], name: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return [dict(r) for r in cur.fetchall()]


Add = Callable[..., Any]
"""``add(check_id, status, summary, **evidence)``: records one check."""


def skip_all(add: Add, why: Recognition) -> None:
    for cid in CHECK_IDS:
        add(cid, "skipped", f"not the v{RELEASE} upgrade: {why.reason}",
            recognition=why.__dict__)


def run_checks(conn: psycopg.Connection[Any], before: dict[str, Any],
               diff: dict[str, dict[str, Any]], add: Add, why: Recognition) -> None:
    """The guide's integrity checks against the live database (``before``: the snapshot)."""
    taken = before.get("taken_at")
    before_ts = dt.datetime.fromisoformat(taken) if taken else dt.datetime.now(dt.UTC)
    ev = {"recognition": why.__dict__}

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


__all__ = ["CHECK_IDS", "RELEASE", "SIGNATURE", "Recognition", "recognise", "run_checks",
           "skip_all"]
