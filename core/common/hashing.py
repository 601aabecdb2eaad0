"""SHA-256 of a file, streamed in chunks (constant memory): evidence videos, checkpoints, dataset indexes."""
from __future__ import annotations

import hashlib
import os
import threading


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of the file at `path`."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


_MEMO: dict[tuple[str, int, int], str] = {}
_MEMO_LOCK = threading.Lock()


def sha256_file_memo(path: str | os.PathLike) -> str:
    """`sha256_file`, remembered for this process by (absolute path, size, modification time in ns): for model
    checkpoints, which are hashed by every look-up and load. Evidence files are always hashed afresh
    (`sha256_file`): their hash is the proof that they are unchanged."""
    p = os.path.abspath(os.fspath(path))
    st = os.stat(p)
    key = (p, st.st_size, st.st_mtime_ns)
    with _MEMO_LOCK:
        known = _MEMO.get(key)
    if known is None:
        known = sha256_file(p)
        with _MEMO_LOCK:
            _MEMO[key] = known
    return known
