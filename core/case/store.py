"""A case file: one SQLite database (``NAME.caddmcase``) holding everything about one investigation: the case header,
every evidence item, every analysis with its full result, the analyst's review (flags and notes per frame and per
face track, with author and time, history kept), the exported reports with their hashes, and an append-only audit
log whose entries are chained by SHA-256 so that a later edit of the file is detectable. See docs/CASES.md.

    with Case.open("2026-117.caddmcase", "c", case_id="2026-117", analyst="J. Doe") as case:   # create or write
        item, _ = case.add_evidence(info)                      # info: core.media.video.probe_video(path)
        record = case.record_analysis(item.item, result, from_cache=False)
        case.set_flag(item.item, 120, True)
        report = case.report_result(record.id)                 # the result with the case's review and audit line
    with Case.open("2026-117.caddmcase") as case:              # read-only: info, verify, export
        print(case.verify().ok)

Storage: stdlib `sqlite3`, WAL journal, ``synchronous=FULL``, foreign keys on, ``PRAGMA application_id`` marks the
file as ours and ``PRAGMA user_version`` is its schema version (`MIGRATIONS`). Every write is one transaction and
a method returns only after its COMMIT: when it returns, the action is on disk; when it raises (`CaseError`), the
case is as it was. One writer at a time: a writer holds an exclusive `flock` on ``NAME.caddmcase.lock`` (pid, host,
user and time inside); the kernel releases it when the writer dies, so a lock left by a killed writer is taken over
(and the take-over is logged). Readers never take the lock. A case object is used from one thread at a time.

Why this file is longer than 600 lines: `Case` is one class whose every write goes through the same connection,
transaction (`_transaction`) and audit append (`_append_audit`), and whose reads decode the same rows; split into
reader and writer halves, each half would need the other's private state. The schema, records, audit hashing, lock,
checks and review offers live in their own modules of `core/case/`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import zlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from core import __version__
from core.media.evidence import VideoInfo
from core.common.hashing import sha256_file
from core.analysis.results import AnalysisResult, CaseInfo, Review
from core.case.audit import origin_line, canonical_json, entry_hash, login_name, result_blob, row_digest, utc_now
from core.case.errors import CaseError, CaseReadOnlyError, CaseVersionError, sqlite_problem
from core.case.lock import WriterLock
from core.case.records import (AnalysisRecord, AuditCheck, AuditEntry, CaseMeta, EvidenceItem, ExportRecord,
                               ReviewAction, VerifyReport)
from core.case.schema import APPLICATION_ID, AUDITED, GENESIS, MIGRATIONS, SCHEMA_VERSION, SQLITE_MAGIC
from core.case.verify import check_audit, integrity, verify_case

def _check_file(path: Path) -> None:
    """A CaseError unless `path` starts like an SQLite database."""
    if not path.exists():
        raise CaseError(path, "no such case file")
    if path.is_dir():
        raise CaseError(path, "is a folder, not a case file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise CaseError(path, f"cannot read the case file ({e.strerror or e})") from None
    if not head:
        raise CaseError(path, "is an empty file, not a case file")
    if head != SQLITE_MAGIC:
        raise CaseError(path, "is not a case file (not an SQLite database)")


def _read_only_reason(path: Path) -> str | None:
    """Why the case file cannot be written, or None. A file without any write permission bit counts as read-only
    even for a user who could write it (an analyst's "chmod a-w" means it)."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        return "the case file is read-only"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"its folder {path.parent} is not writable (a case needs its journal and lock beside it)"
    return None




class Case:
    """An open case file; see the module docstring. Use `Case.open`, and `close()` (or a `with` block)."""

    def __init__(self, path: Path, db: sqlite3.Connection, writable: bool, lock: WriterLock | None, actor: str | None,
                 read_only_reason: str | None, notices: list[str]):
        self.path = path
        self._db = db
        self.writable = writable
        self._lock = lock
        self.read_only_reason = read_only_reason
        #: Things the caller may tell the user (a stale lock taken over, a newer schema read as far as understood).
        self.notices = notices
        self.meta = self._read_meta()
        #: Who the actions of this session are attributed to: the given name, else the case's analyst.
        self.actor = actor or self.meta.analyst
        self.origin = origin_line()

    # -- opening and closing ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, mode: str = "r", *, case_id: str | None = None,
             analyst: str | None = None, notes: str = "", program: str = "caddm-inspector") -> "Case":
        """Open a case. `mode`: "r" read-only (never locks, never writes), "w" write an existing case, "c" write,
        creating the case when the file does not exist (with `case_id`, default the file's stem, and `analyst`,
        default the login name). `analyst` is also who this session's actions are attributed to (default: the
        case's analyst). Raises `CaseError` (not a case, damaged), `CaseLockedError`, `CaseReadOnlyError`,
        `CaseVersionError`, each naming the file."""
        if mode not in ("r", "w", "c"):
            raise ValueError(f"mode must be 'r', 'w' or 'c', not {mode!r}")
        path = Path(os.path.abspath(os.fspath(path)))
        if mode == "r":
            return cls._open_read(path, analyst)
        if not path.exists() and mode == "c":
            if not path.parent.is_dir():
                raise CaseError(path, f"cannot create the case: no folder {path.parent}")
        else:
            _check_file(path)
            reason = _read_only_reason(path)
            if reason:
                raise CaseReadOnlyError(path, f"{reason}: it can be read (caddm-case info, verify, export) "
                                              "but not changed")
        lock = WriterLock(path)
        lock.acquire(program)
        db = None
        try:
            notices = []
            if not path.exists():
                cls._create(path, case_id or path.stem, analyst or login_name(), notes)
            db = cls._connect(path, "rw")
            version = cls._check_schema(path, db)
            if version > SCHEMA_VERSION:
                db.close()
                raise CaseVersionError(path, f"was written by a newer version of caddm-inspector (case schema "
                                             f"{version}; this version writes schema {SCHEMA_VERSION}): it can be "
                                             "read but not changed here; update caddm-inspector")
            try:
                mode_set = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                db.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as e:
                db.close()
                raise CaseError(path, f"cannot open the case for writing: {sqlite_problem(e)}") from None
            if mode_set.lower() != "wal":
                notices.append(f"{path}: the file system does not support a WAL journal; using {mode_set}")
            case = cls(path, db, True, lock, analyst, None, notices)
        except BaseException:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            lock.release()
            raise
        try:
            if version < SCHEMA_VERSION:
                case._migrate(version)
            if case_id and case_id != case.meta.case_id:
                case.notices.append(f"{path}: the case's id is {case.meta.case_id!r}; the case id {case_id!r} given "
                                    "is not used")
            if lock.previous:
                case._log("lock.takeover", {"previous_holder": lock.previous})
                case.notices.append(f"{path}: took over the writer lock left by {WriterLock.describe(lock.previous)},"
                                    " which ended without closing the case")
        except BaseException:
            case.close()
            raise
        return case

    @classmethod
    def create(cls, path: str | os.PathLike, case_id: str | None = None, analyst: str | None = None,
               notes: str = "") -> "Case":
        """A new case, open for writing; CaseError when the file exists."""
        if Path(path).exists():
            raise CaseError(path, "a file of that name exists already")
        return cls.open(path, "c", case_id=case_id, analyst=analyst, notes=notes)

    @staticmethod
    def _connect(path: Path, mode: str, immutable: bool = False) -> sqlite3.Connection:
        uri = f"file:{quote(str(path))}?mode={mode}" + ("&immutable=1" if immutable else "")
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
            db.execute("PRAGMA foreign_keys=ON")
            if mode == "ro":
                db.execute("PRAGMA query_only=ON")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            raise CaseError(path, f"is not a readable case file ({sqlite_problem(e)})") from None
        return db

    @staticmethod
    def _check_schema(path: Path, db: sqlite3.Connection) -> int:
        try:
            app = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as e:
            db.close()
            raise CaseError(path, f"is not a readable case file ({sqlite_problem(e)})") from None
        if app != APPLICATION_ID:
            db.close()
            what = "an empty SQLite database" if not tables else f"an SQLite database of another program " \
                                                                 f"(tables: {', '.join(sorted(tables)[:5])})"
            raise CaseError(path, f"is not a CADDM Inspector case: {what}")
        missing = (set(AUDITED) | {"audit"}) - tables
        if missing and version == SCHEMA_VERSION:  # (an older case gets the tables of later schemas by migration)
            db.close()
            raise CaseError(path, f"is a damaged case: table(s) {', '.join(sorted(missing))} missing")
        return version

    @classmethod
    def _open_read(cls, path: Path, actor: str | None) -> "Case":
        _check_file(path)
        try:
            db = cls._connect(path, "ro")
        except CaseError:
            # A read-only file in a read-only folder cannot get WAL's shared-memory file: read it as immutable,
            # which is right only when no journal with committed changes lies beside it.
            wal = path.with_name(path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise CaseError(path, f"cannot be read: its journal {wal.name} holds changes not yet merged and the "
                                      "folder is not writable; open the case for writing once where it is "
                                      "writable") from None
            db = cls._connect(path, "ro", immutable=True)
        version = cls._check_schema(path, db)
        notices = []
        if version > SCHEMA_VERSION:
            notices.append(f"{path}: written by a newer version (case schema {version}; this version reads schema "
                           f"{SCHEMA_VERSION}): shown as far as this version understands it")
        try:
            return cls(path, db, False, None, actor, "the case was opened read-only", notices)
        except sqlite3.Error as e:
            db.close()
            raise CaseError(path, f"is a damaged case ({sqlite_problem(e)})") from None

    @classmethod
    def _create(cls, path: Path, case_id: str, analyst: str, notes: str) -> None:
        """Build the case in a hidden temporary file and link it into place: a crash leaves no half-made case."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.creating")
        for p in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous=FULL")
                db.execute("BEGIN IMMEDIATE")
                for _, statements in MIGRATIONS:
                    for sql in statements:
                        db.execute(sql)
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                now = utc_now()
                row = {"id": 1, "case_id": case_id, "analyst": analyst, "notes": notes or "", "created_utc": now,
                       "software_version": __version__}
                db.execute("INSERT INTO meta (id, case_id, analyst, notes, created_utc, software_version) "
                           "VALUES (:id, :case_id, :analyst, :notes, :created_utc, :software_version)", row)
                stored = _fetch_row(db, "meta", 1)
                entry = {"seq": 1, "utc": now, "actor": analyst, "origin": origin_line(), "action": "case.create",
                         "detail": {"case_id": case_id, "analyst": analyst, "schema": SCHEMA_VERSION,
                                    "rows": [["meta", 1, row_digest("meta", stored)]]}}
                db.execute("INSERT INTO audit (seq, utc, actor, origin, action, detail, prev_hash, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (1, now, analyst, entry["origin"], entry["action"], canonical_json(entry["detail"]),
                            GENESIS, entry_hash(GENESIS, entry)))
                db.execute("COMMIT")
                db.execute("PRAGMA journal_mode=WAL")
            finally:
                db.close()
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails when the name exists: never replaces a file
            except FileExistsError:
                raise CaseError(path, "cannot create the case: a file of that name appeared meanwhile") from None
            except OSError:  # a file system without hard links; we hold the case's lock and the name was free
                if path.exists():
                    raise CaseError(path, "cannot create the case: a file of that name appeared meanwhile") from None
                os.replace(tmp, path)
            _fsync_dir(path.parent)
        except sqlite3.Error as e:
            raise CaseError(path, f"cannot create the case: {sqlite_problem(e)}") from None
        except OSError as e:
            raise CaseError(path, f"cannot create the case ({e.strerror or e})") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def close(self) -> None:
        """Merge the journal into the case file (when writing) and release the writer lock."""
        if self._db is None:
            return
        try:
            if self.writable:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
        finally:
            self._db = None
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> "Case":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------------------

    def _require_writable(self) -> None:
        if self._db is None:
            raise CaseError(self.path, "the case is closed")
        if not self.writable:
            raise CaseReadOnlyError(self.path, f"{self.read_only_reason}: it cannot be changed")

    @contextlib.contextmanager
    def _transaction(self, what: str):
        """One write: BEGIN IMMEDIATE ... COMMIT. Any failure rolls back and raises CaseError: nothing of it stays."""
        self._require_writable()
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException as e:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise CaseError(self.path, f"could not {what}: {sqlite_problem(e)}; the case is unchanged") from e
            raise

    def _insert(self, table: str, values: dict) -> list:
        """Insert a row and return its audit reference [table, key, digest of the row as stored]."""
        cols = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        cur = self._db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)
        pk = AUDITED[table]
        key = values[pk] if pk in values else cur.lastrowid
        return [table, key, row_digest(table, _fetch_row(self._db, table, key))]

    def _append_audit(self, action: str, detail: dict, rows: list) -> AuditEntry:
        last = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (1, GENESIS) if last is None else (last[0] + 1, last[1])
        detail = {**detail, "rows": rows}
        entry = {"seq": seq, "utc": utc_now(), "actor": self.actor, "origin": self.origin, "action": action,
                 "detail": detail}
        h = entry_hash(prev, entry)
        self._db.execute("INSERT INTO audit (seq, utc, actor, origin, action, detail, prev_hash, hash) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (seq, entry["utc"], self.actor, self.origin, action, canonical_json(detail), prev, h))
        return AuditEntry(seq, entry["utc"], self.actor, self.origin, action, detail, prev, h)

    def _log(self, action: str, detail: dict) -> AuditEntry:
        """An action that writes no row of its own (a lock take-over), as one transaction."""
        with self._transaction(f"log {action}"):
            return self._append_audit(action, detail, [])

    def _migrate(self, version: int) -> None:
        with self._transaction(f"migrate the case from schema {version} to {SCHEMA_VERSION}") as db:
            for v, statements in MIGRATIONS:
                if v > version:
                    for sql in statements:
                        db.execute(sql)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._append_audit("case.migrate", {"from": version, "to": SCHEMA_VERSION}, [])

    def add_evidence(self, info: VideoInfo, path_as_given: str | os.PathLike | None = None) -> tuple[EvidenceItem, bool]:
        """(the item, True) for a new evidence file; (the existing item, False) when a file with the same SHA-256
        is in the case already. `info`: `core.media.video.probe_video` of the file (its SHA-256 computed afresh)."""
        existing = self.item_by_sha(info.sha256)
        if existing is not None:
            return existing, False
        given = os.fspath(path_as_given) if path_as_given is not None else info.path
        values = {"path": given, "abs_path": os.path.abspath(info.path), "sha256": info.sha256,
                  "size_bytes": int(info.size_bytes), "container": info.container, "codec": info.codec,
                  "width": int(info.width), "height": int(info.height), "fps": float(info.fps),
                  "frame_count": int(info.frame_count), "rotation": int(info.rotation),
                  "duration_s": float(info.duration_s), "probe_json": canonical_json(info.to_dict()),
                  "added_utc": utc_now(), "added_by": self.actor}
        with self._transaction(f"add evidence {given}"):
            ref = self._insert("evidence", values)
            self._append_audit("evidence.add", {"item": ref[1], "path": given, "sha256": info.sha256,
                                                "size_bytes": int(info.size_bytes)}, [ref])
        return self.item(ref[1]), True

    def record_analysis(self, item: int, result: AnalysisResult, from_cache: bool = False,
                        started_utc: str | None = None, ended_utc: str | None = None) -> AnalysisRecord:
        """Record an analysis of `item` (its result stored zlib-compressed, once per distinct result). `started_utc`
        / `ended_utc`: when this run looked up or computed it (default: the result's own run)."""
        it = self.item(item)
        if result.video.sha256 != it.sha256:
            raise CaseError(self.path, f"the result is of a file with SHA-256 {result.video.sha256[:16]}..., not "
                                       f"of evidence item {item} ({it.sha256[:16]}...)")
        sha, blob, n = result_blob(result)
        if ended_utc is None or started_utc is None:
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            try:
                end = datetime.strptime(result.created_utc, fmt).replace(tzinfo=timezone.utc)
            except ValueError:
                end = datetime.now(timezone.utc)
            start = end - timedelta(seconds=float(result.timings.get("total", 0.0)))
            started_utc = started_utc or start.strftime(fmt)
            ended_utc = ended_utc or end.strftime(fmt)
        s = result.summary
        values = {"item": item, "model_name": result.model.name, "model_sha256": result.model.sha256,
                  "settings_json": canonical_json(result.settings.to_dict()), "threshold": s.threshold,
                  "verdict": s.verdict, "video_score": s.video_score, "complete": int(result.complete),
                  "from_cache": int(bool(from_cache)), "started_utc": started_utc, "ended_utc": ended_utc,
                  "software_version": str(result.software.get("version", "")), "result_sha256": sha,
                  "recorded_utc": utc_now(), "recorded_by": self.actor}
        with self._transaction(f"record the analysis of item {item}") as db:
            rows = []
            if db.execute("SELECT 1 FROM results WHERE sha256 = ?", (sha,)).fetchone() is None:
                rows.append(self._insert("results", {"sha256": sha, "json_bytes": n, "json_zlib": blob}))
            ref = self._insert("analyses", values)
            rows.append(ref)
            self._append_audit("analysis.record", {"item": item, "analysis": ref[1], "model": result.model.name,
                                                   "model_sha256": result.model.sha256, "verdict": s.verdict,
                                                   "video_score": s.video_score, "from_cache": bool(from_cache),
                                                   "result_sha256": sha}, rows)
        return self.analysis(ref[1])

    def record_run(self, path_as_given, info: VideoInfo, result: AnalysisResult, from_cache: bool,
                   started_utc: str | None = None) -> tuple[AnalysisResult, AnalysisRecord]:
        """One video of a run (`caddm-analyze --case`): the file as evidence (once per SHA-256) and this analysis
        of it (a cached result too, `from_cache`); returns the result as a report from this case shows it
        (`report_result`) and the analysis record."""
        item, _ = self.add_evidence(info, path_as_given)
        rec = self.record_analysis(item.item, result, from_cache, started_utc, utc_now() if started_utc else None)
        return self.report_result(rec.id), rec

    def _check_target(self, item: int, target: str, index: int) -> EvidenceItem:
        if target not in ("frame", "track"):
            raise ValueError(f"target must be 'frame' or 'track', not {target!r}")
        it = self.item(item)
        index = int(index)
        if index < 0:
            raise CaseError(self.path, f"item {item}: there is no {target} {index}")
        n = it.info.frame_count
        if target == "frame" and n > 0 and index >= n:
            raise CaseError(self.path, f"item {item} ({it.name}) has {n} frames (0-{n - 1}); there is no frame {index}")
        if target == "track":
            known = self.tracks(item)
            if known is not None and index not in known:
                raise CaseError(self.path, f"item {item} ({it.name}): its latest analysis has no face track {index} "
                                           f"(tracks: {', '.join(map(str, sorted(known))) or 'none'})")
        return it

    def _review(self, item: int, target: str, index: int, kind: str, value: str, source: str) -> ReviewAction | None:
        self._check_target(item, target, index)
        current = self._current_value(item, target, index, kind)
        if current == value or (current is None and value in ("0", "")):
            return None  # nothing changes: nothing recorded
        values = {"item": item, "target": target, "idx": int(index), "kind": kind, "value": value,
                  "author": self.actor, "utc": utc_now(), "source": source}
        with self._transaction(f"record a {kind} on {target} {index} of item {item}"):
            ref = self._insert("review", values)
            detail = {"item": item, "target": target, "index": int(index), "value": value}
            self._append_audit(f"review.{kind}", detail, [ref])
        return self.review_action(ref[1])

    def set_flag(self, item: int, index: int, on: bool = True, target: str = "frame") -> ReviewAction | None:
        """Flag (or unflag) a frame or face track of `item`; the recorded action, or None when nothing changes."""
        return self._review(item, target, index, "flag", "1" if on else "0", "case")

    def set_note(self, item: int, index: int, text: str, target: str = "frame") -> ReviewAction | None:
        """Set the note of a frame or face track ("" clears it); the recorded action, or None when unchanged."""
        return self._review(item, target, index, "note", str(text).strip(), "case")

    def import_review(self, item: int, actions: list[tuple[str, int, str, str]], source: str) -> list[ReviewAction]:
        """Record review actions (target, index, kind, value) taken from elsewhere (`source`, e.g. a cached result)
        in one transaction and one audit entry; see `review_import_plan`."""
        if not actions:
            return []
        for target, index, kind, value in actions:
            self._check_target(item, target, index)
            if kind not in ("flag", "note") or (kind == "flag" and value not in ("0", "1")):
                raise ValueError(f"not a review action: {(target, index, kind, value)}")
        now = utc_now()
        with self._transaction(f"import review into item {item}"):
            rows = [self._insert("review", {"item": item, "target": t, "idx": int(i), "kind": k, "value": v,
                                            "author": self.actor, "utc": now, "source": source})
                    for t, i, k, v in actions]
            self._append_audit("review.import", {"item": item, "source": source, "actions": len(rows)}, rows)
        return [self.review_action(r[1]) for r in rows]

    def record_exports(self, item: int, analysis: int, files: dict[str, str | os.PathLike]) -> list[ExportRecord]:
        """Record written report files ({format: path}): each file's SHA-256 and size, in one transaction."""
        self.analysis(analysis)
        entries = []
        for fmt, p in files.items():
            p = os.path.abspath(os.fspath(p))
            try:
                entries.append((fmt, p, sha256_file(p), os.path.getsize(p)))
            except OSError as e:
                raise CaseError(p, f"cannot read the exported file to record it ({e.strerror or e})") from None
        now = utc_now()
        with self._transaction(f"record the export of item {item}"):
            rows = [self._insert("exports", {"item": item, "analysis": analysis, "format": fmt, "path": p,
                                             "sha256": sha, "size_bytes": size, "utc": now, "author": self.actor})
                    for fmt, p, sha, size in entries]
            self._append_audit("export.record", {"item": item, "analysis": analysis,
                                                 "files": {fmt: [p, sha] for fmt, p, sha, _ in entries}}, rows)
        return [self.export(r[1]) for r in rows]

    # -- reading ----------------------------------------------------------------------------------------------

    def _rows(self, sql: str, args=()) -> list[dict]:
        if self._db is None:
            raise CaseError(self.path, "the case is closed")
        try:
            cur = self._db.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        except sqlite3.Error as e:
            raise CaseError(self.path, f"cannot read the case: {sqlite_problem(e)}") from None

    def _read_meta(self) -> CaseMeta:
        rows = self._rows("SELECT * FROM meta WHERE id = 1")
        if not rows:
            raise CaseError(self.path, "is a damaged case: its header row is missing")
        r = rows[0]
        version = self._rows("PRAGMA user_version")[0]["user_version"]
        return CaseMeta(r["case_id"], r["analyst"], r["notes"], r["created_utc"], r["software_version"], version)

    def items(self) -> list[EvidenceItem]:
        return [EvidenceItem.from_row(r) for r in self._rows("SELECT * FROM evidence ORDER BY item")]

    def item(self, item: int) -> EvidenceItem:
        rows = self._rows("SELECT * FROM evidence WHERE item = ?", (int(item),))
        if not rows:
            raise CaseError(self.path, f"has no evidence item {item}")
        return EvidenceItem.from_row(rows[0])

    def item_by_sha(self, sha256: str) -> EvidenceItem | None:
        rows = self._rows("SELECT * FROM evidence WHERE sha256 = ?", (sha256.lower(),))
        return EvidenceItem.from_row(rows[0]) if rows else None

    def find_item(self, ref: str) -> EvidenceItem:
        """An item by number ("2"), path as given or absolute, file name, or SHA-256 prefix (8+ hex digits)."""
        ref = str(ref).strip()
        if ref.isdigit():
            return self.item(int(ref))
        items = self.items()
        absolute = os.path.abspath(ref)
        for test in (lambda i: i.path == ref or i.abs_path == absolute, lambda i: i.name == ref,
                     lambda i: len(ref) >= 8 and i.sha256.startswith(ref.lower())):
            hits = [i for i in items if test(i)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise CaseError(self.path, f"{ref!r} names several items ({', '.join(str(i.item) for i in hits)}); "
                                           "give the item number")
        raise CaseError(self.path, f"has no evidence item {ref!r} (items: "
                                   f"{', '.join(f'{i.item} {i.name}' for i in items) or 'none'})")

    def analyses(self, item: int | None = None) -> list[AnalysisRecord]:
        rows = self._rows("SELECT * FROM analyses" + (" WHERE item = ?" if item is not None else "") + " ORDER BY id",
                          () if item is None else (int(item),))
        return [_analysis(r) for r in rows]

    def analysis(self, analysis: int) -> AnalysisRecord:
        rows = self._rows("SELECT * FROM analyses WHERE id = ?", (int(analysis),))
        if not rows:
            raise CaseError(self.path, f"has no analysis {analysis}")
        return _analysis(rows[0])

    def latest_analysis(self, item: int, complete: bool = False) -> AnalysisRecord | None:
        """The item's latest analysis (`complete`: its latest complete one), None without one."""
        rows = self._rows("SELECT * FROM analyses WHERE item = ?" + (" AND complete = 1" if complete else "") +
                          " ORDER BY id DESC LIMIT 1", (int(item),))
        return _analysis(rows[0]) if rows else None

    def result(self, analysis: int) -> AnalysisResult:
        """The stored result of an analysis (without review or case header: see `report_result`)."""
        rec = self.analysis(analysis)
        rows = self._rows("SELECT json_zlib FROM results WHERE sha256 = ?", (rec.result_sha256,))
        if not rows:
            raise CaseError(self.path, f"is damaged: the result of analysis {analysis} is missing")
        try:
            raw = zlib.decompress(rows[0]["json_zlib"])
            if hashlib.sha256(raw).hexdigest() != rec.result_sha256:
                raise ValueError("its SHA-256 does not match the record")
            return AnalysisResult.from_dict(json.loads(raw))
        except (zlib.error, ValueError, KeyError, TypeError) as e:
            raise CaseError(self.path, f"is damaged: the result of analysis {analysis} cannot be read ({e})") from None

    def tracks(self, item: int) -> set[int] | None:
        """The face track ids of the item's latest analysis (None without an analysis)."""
        rec = self.latest_analysis(item)
        return None if rec is None else {t.track for t in self.result(rec.id).tracks}

    def _current_value(self, item: int, target: str, index: int, kind: str) -> str | None:
        rows = self._rows("SELECT value FROM review WHERE item = ? AND target = ? AND idx = ? AND kind = ? "
                          "ORDER BY id DESC LIMIT 1", (int(item), target, int(index), kind))
        return rows[0]["value"] if rows else None

    def review_history(self, item: int | None = None) -> list[ReviewAction]:
        """Every review action (of `item`, or all), oldest first."""
        rows = self._rows("SELECT * FROM review" + (" WHERE item = ?" if item is not None else "") + " ORDER BY id",
                          () if item is None else (int(item),))
        return [_review_action(r) for r in rows]

    def review_action(self, action_id: int) -> ReviewAction:
        return _review_action(self._rows("SELECT * FROM review WHERE id = ?", (int(action_id),))[0])

    def review(self, item: int) -> Review:
        """The item's current review: per frame and per track, the latest flag and note."""
        rows = self._rows("SELECT r.target, r.idx, r.kind, r.value FROM review r JOIN (SELECT MAX(id) AS id FROM "
                          "review WHERE item = ? GROUP BY target, idx, kind) m ON r.id = m.id", (int(item),))
        rv = Review()
        for r in rows:
            frame = r["target"] == "frame"
            if r["kind"] == "flag" and r["value"] == "1":
                (rv.flags if frame else rv.track_flags).add(r["idx"])
            elif r["kind"] == "note" and r["value"]:
                (rv.notes if frame else rv.track_notes)[r["idx"]] = r["value"]
        return rv

    def exports(self, item: int | None = None) -> list[ExportRecord]:
        rows = self._rows("SELECT * FROM exports" + (" WHERE item = ?" if item is not None else "") + " ORDER BY id",
                          () if item is None else (int(item),))
        return [ExportRecord(**r) for r in rows]

    def export(self, export_id: int) -> ExportRecord:
        return ExportRecord(**self._rows("SELECT * FROM exports WHERE id = ?", (int(export_id),))[0])

    def audit(self) -> list[AuditEntry]:
        out = []
        for r in self._rows("SELECT * FROM audit ORDER BY seq"):
            try:
                detail = json.loads(r["detail"])
            except ValueError:
                detail = {"unreadable": r["detail"]}
            out.append(AuditEntry(r["seq"], r["utc"], r["actor"], r["origin"], r["action"], detail, r["prev_hash"],
                                  r["hash"]))
        return out

    def report_result(self, analysis: int) -> AnalysisResult:
        """The analysis's result as a report shows it: the case header (id, analyst, notes, audit summary) and the
        item's current review filled in from the case."""
        return self.as_report(self.result(analysis), self.analysis(analysis).item)

    def as_report(self, result: AnalysisResult, item: int) -> AnalysisResult:
        """`result` (an analysis of `item`, e.g. the one the app shows at its threshold) as a report from this case
        shows it: a copy with the case header (id, analyst, notes, audit summary) and the item's current review."""
        case = CaseInfo(case_id=self.meta.case_id, analyst=self.meta.analyst, notes=self.meta.notes,
                        audit=self.check_audit().summary())
        return replace(result, case=case, review=self.review(item))

    # -- checking ---------------------------------------------------------------------------------------------

    def integrity(self) -> str:
        """"ok", or what SQLite's integrity check found."""
        return integrity(self._db)

    def check_audit(self) -> AuditCheck:
        """The audit chain and the audited rows checked (`core.case.verify.check_audit`)."""
        return check_audit(self._rows)

    def verify(self, files: bool = True) -> VerifyReport:
        """The whole case checked (`core.case.verify.verify_case`)."""
        return verify_case(self, files)


def _fetch_row(db: sqlite3.Connection, table: str, key) -> dict:
    cur = db.execute(f"SELECT * FROM {table} WHERE {AUDITED[table]} = ?", (key,))
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


def _analysis(r: dict) -> AnalysisRecord:
    return AnalysisRecord(**{**r, "complete": bool(r["complete"]), "from_cache": bool(r["from_cache"])})


def _review_action(r: dict) -> ReviewAction:
    value = r["value"] == "1" if r["kind"] == "flag" else r["value"]
    return ReviewAction(id=r["id"], item=r["item"], target=r["target"], index=r["idx"], kind=r["kind"], value=value,
                        author=r["author"], utc=r["utc"], source=r["source"])


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
