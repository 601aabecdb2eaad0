"""The audit chain's hashing: canonical JSON, row digests, entry hashes, who and where an action comes from, and
the stored form of a result. Pure functions over plain values."""
from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import zlib
from dataclasses import replace

from core.common.formatting import utc_now as _utc_now
from core.analysis.results import AnalysisResult, Review

def canonical_json(obj) -> str:
    """The one JSON text of `obj` that is hashed: sorted keys, no spaces, UTF-8 text, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_digest(table: str, row: dict) -> str:
    """SHA-256 of a stored row: canonical JSON of {"table", "row"}; a BLOB counts as {"sha256": its hash}."""
    values = {k: ({"sha256": hashlib.sha256(v).hexdigest()} if isinstance(v, bytes) else v) for k, v in row.items()}
    return _sha256_text(canonical_json({"table": table, "row": values}))


def entry_hash(prev_hash: str, entry: dict) -> str:
    """An audit entry's hash: SHA-256(previous entry's hash + canonical JSON of the entry without its hashes)."""
    return _sha256_text(prev_hash + canonical_json(entry))


def utc_now() -> str:
    """UTC time with milliseconds, as the audit log records it (`core.common.formatting.utc_now`)."""
    return _utc_now(milliseconds=True)


def login_name() -> str:
    """The login name: who a new case's analyst and a writer's lock name by default."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in this environment
        return "unknown"


def origin_line() -> str:
    return f"{login_name()}@{socket.gethostname()} pid {os.getpid()}"


def result_blob(result: AnalysisResult) -> tuple[str, bytes, int]:
    """(SHA-256 of the JSON, zlib of it, its length) for the result with its review and case header left out:
    a case keeps the review in its own table and the header in its meta row."""
    raw = replace(result, review=Review(), case=None).to_json().encode("utf-8")
    return hashlib.sha256(raw).hexdigest(), zlib.compress(raw, 9), len(raw)
