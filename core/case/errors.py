"""What can go wrong with a case file, as errors a user can act on (each names the case file)."""
from __future__ import annotations

import sqlite3

from core.common.errors import CaddmError

class CaseError(CaddmError):
    """A case file that cannot be opened, read or written as asked; names the file."""


class CaseLockedError(CaseError):
    """Another writer holds the case; `holder` describes it ("pid 1234 on host lab-3 (user jdoe, ...)")."""

    def __init__(self, path, problem: str, holder: str = ""):
        super().__init__(path, problem)
        self.holder = holder


class CaseReadOnlyError(CaseError):
    """A write asked of a case opened read-only, or of a read-only file, or of a newer schema version."""


class CaseVersionError(CaseReadOnlyError):
    """The case was written by a newer version of the software (a newer schema): this version does not write it."""


def sqlite_problem(e: sqlite3.Error) -> str:
    """SQLite's message with its error name, for a CaseError."""
    return f"{e}" + (f" ({e.sqlite_errorname})" if getattr(e, "sqlite_errorname", None) else "")
