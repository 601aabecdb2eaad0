"""Errors a user can act on. Each names the file and says what is wrong in one line; CLIs print `str(err)`."""
from __future__ import annotations

import os


class CaddmError(Exception):
    """Base class: a problem with the user's input, reported as one line naming the file."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class CheckpointError(CaddmError):
    """A checkpoint that cannot be loaded (missing, corrupt, not a model, unsafe, unknown architecture)."""


class VideoError(CaddmError):
    """A video that cannot be read (missing, not a video, truncated, no frames)."""


class OutputError(CaddmError):
    """An output location that cannot be written."""
