"""The records a case holds and hands out: header, evidence items, analyses, review actions, exports, audit
entries and the results of checking a case (frozen dataclasses, plain values)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.media.evidence import VideoInfo

@dataclass(frozen=True)
class CaseMeta:
    case_id: str
    analyst: str
    notes: str
    created_utc: str
    software_version: str
    schema_version: int


@dataclass(frozen=True)
class EvidenceItem:
    """An evidence file: `item` (1, 2, ...), the path as given and absolute, its SHA-256, its probe (`info`, as
    `core.media.video.probe_video` gave it when the item was added), when and by whom it was added."""

    item: int
    path: str
    abs_path: str
    sha256: str
    info: VideoInfo
    added_utc: str
    added_by: str

    @classmethod
    def from_row(cls, r: dict) -> "EvidenceItem":
        return cls(item=r["item"], path=r["path"], abs_path=r["abs_path"], sha256=r["sha256"],
                   info=VideoInfo.from_dict(json.loads(r["probe_json"])), added_utc=r["added_utc"],
                   added_by=r["added_by"])

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class AnalysisRecord:
    """One analysis of an item: model, settings (`AnalysisSettings.to_dict()` as JSON), verdict, when, and the
    SHA-256 of its stored result (the result JSON, review and case header left out)."""

    id: int
    item: int
    model_name: str
    model_sha256: str
    settings_json: str
    threshold: float
    verdict: str
    video_score: float | None
    complete: bool
    from_cache: bool
    started_utc: str
    ended_utc: str
    software_version: str
    result_sha256: str
    recorded_utc: str
    recorded_by: str


@dataclass(frozen=True)
class ReviewAction:
    """One review action: on a `target` ("frame" or "track") `index`, a `kind` ("flag": value True/False, or
    "note": value the text, "" clears it), by `author` at `utc`; `source` "case" or where it was imported from."""

    id: int
    item: int
    target: str
    index: int
    kind: str
    value: bool | str
    author: str
    utc: str
    source: str


@dataclass(frozen=True)
class ExportRecord:
    id: int
    item: int
    analysis: int
    format: str
    path: str
    sha256: str
    size_bytes: int
    utc: str
    author: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    utc: str
    actor: str
    origin: str
    action: str
    detail: dict
    prev_hash: str
    hash: str


@dataclass
class AuditCheck:
    """The audit log checked: `entries`, the `head` hash, and one line per problem (empty: the chain holds and
    every row of the audited tables is the one an entry recorded)."""

    entries: int
    head: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """The report's line: "57 entries; chain verified: yes; head 1a2b3c4d5e6f7a8b"."""
        return (f"{self.entries} entr{'y' if self.entries == 1 else 'ies'}; chain verified: "
                f"{'yes' if self.ok else 'NO'}; head {self.head[:16]}")


@dataclass
class Finding:
    """One line of `verify`: `status` "ok", "changed" or "missing", `what` (e.g. "evidence 1"), the file, a message."""

    status: str
    what: str
    path: str
    message: str

    def line(self) -> str:
        return f"{self.status.upper():8s} {self.what}: {self.path}: {self.message}"


@dataclass
class VerifyReport:
    integrity: str
    audit: AuditCheck
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = [] if self.integrity == "ok" else [f"database integrity check: {self.integrity}"]
        out += [f"audit: {p}" for p in self.audit.problems]
        return out + [f.line() for f in self.findings if f.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.problems
