"""The one-writer lock of a case: an exclusive `flock` on ``NAME.caddmcase.lock`` beside it."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from pathlib import Path

from core.case.audit import login_name, utc_now
from core.case.errors import CaseError, CaseLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no POSIX locks (see docs/CASES.md)
    fcntl = None

class WriterLock:
    """An exclusive `flock` on ``CASE.lock`` next to the case, holding JSON {pid, host, user, since}. The kernel
    releases it when the holder dies; the file a dead holder leaves behind is taken over (`previous`)."""

    def __init__(self, case_path: Path):
        self.case_path = case_path
        self.path = case_path.with_name(case_path.name + ".lock")
        self.fd: int | None = None
        self.previous: dict | None = None

    @staticmethod
    def _read(fd: int) -> dict | None:
        try:
            data = os.pread(fd, 4096, 0)
            return json.loads(data) if data.strip() else None
        except (OSError, ValueError):
            return {"unreadable": True}

    @staticmethod
    def describe(holder: dict | None) -> str:
        if not holder or holder.get("unreadable"):
            return "another process (its lock file says nothing more)"
        return (f"pid {holder.get('pid')} on host {holder.get('host')} (user {holder.get('user')}, "
                f"{holder.get('program', 'caddm-inspector')}, since {holder.get('since')})")

    def acquire(self, program: str) -> None:
        if fcntl is None:  # pragma: no cover
            raise CaseError(self.case_path, "cannot lock the case for writing on this system (no POSIX locks)")
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise CaseError(self.case_path, f"cannot create the writer lock {self.path.name} "
                                                f"({e.strerror or e})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = self._read(fd)
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    who = self.describe(holder)
                    raise CaseLockedError(self.case_path, f"the case is open for writing by {who}; close it there "
                                                          "first (reading it is still possible)", who)
                raise CaseError(self.case_path, f"cannot lock the case for writing ({e.strerror or e})") from None
            try:  # the holder before us may have removed the file between our open and our lock: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self.previous = self._read(fd)  # what a holder that ended without closing left behind
            me = {"pid": os.getpid(), "host": socket.gethostname(), "user": login_name(), "program": program,
                  "since": utc_now()}
            data = json.dumps(me).encode("utf-8")
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
            self.fd = fd
            return
        raise CaseError(self.case_path, "cannot lock the case for writing (its lock file keeps changing)")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still held: a waiting writer then re-checks the inode
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None
