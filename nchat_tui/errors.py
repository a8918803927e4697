"""Errors the tool reports to an operator, each with the exit code of the CLI contract.

Exit codes: 0 ok; 1 a check or operation failed cleanly; 2 cannot connect, bad input, or a
required tool is missing; 3 refused for safety; 4 another run holds the migration lock.
Messages are one line an operator can act on, and never carry a password.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_REFUSED = 3
EXIT_LOCKED = 4


class NchatError(Exception):
    """Base error: ``message`` says what happened, ``hint`` what to do next."""

    exit_code = EXIT_FAILED
    kind = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message}" + (f" ({self.hint})" if self.hint else "")

    def as_dict(self) -> dict[str, object]:
        return {"error": self.kind, "message": self.message, "hint": self.hint,
                "exit_code": self.exit_code}


class OperationFailed(NchatError):
    exit_code = EXIT_FAILED
    kind = "failed"


class BadInput(NchatError):
    exit_code = EXIT_INPUT
    kind = "bad_input"


class ToolMissing(NchatError):
    exit_code = EXIT_INPUT
    kind = "tool_missing"


class ConnectError(NchatError):
    """The target could not be reached or refused us; ``kind`` names the cause."""

    exit_code = EXIT_INPUT

    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.kind = kind


class Refused(NchatError):
    exit_code = EXIT_REFUSED
    kind = "refused"


class NeedsBackup(Refused):
    """The migration gate's refusals that a new verified backup fixes (none, or one taken
    before the ledger's latest change or at another migration state)."""


class LockHeld(NchatError):
    exit_code = EXIT_LOCKED
    kind = "lock_held"
