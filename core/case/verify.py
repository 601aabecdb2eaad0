"""Checking a case: SQLite's integrity check, the audit chain and the audited rows, stored results and the
evidence and export files re-hashed against what the case recorded."""
from __future__ import annotations

import json
import os
import sqlite3

from core.common.errors import CaddmError
from core.common.hashing import sha256_file
from core.case.audit import entry_hash, row_digest
from core.case.errors import CaseError, sqlite_problem
from core.case.records import AuditCheck, ExportRecord, Finding, VerifyReport
from core.case.schema import AUDITED, GENESIS

def integrity(db: sqlite3.Connection) -> str:
    """"ok", or what SQLite's integrity check found."""
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as e:
        return sqlite_problem(e)
    return "; ".join(str(r[0]) for r in rows[:10])

def check_audit(rows) -> AuditCheck:
    """Walk the audit chain (sequence, each entry's link to the one before and its own hash) and match every
    row of the audited tables against the digest its entry recorded."""
    problems: list[str] = []
    refs: dict[tuple[str, str], tuple[str, int]] = {}
    prev, expected, n = GENESIS, 1, 0
    for r in rows("SELECT * FROM audit ORDER BY seq"):
        n += 1
        seq = r["seq"]
        if seq != expected:
            problems.append(f"entr{'y' if seq - expected == 1 else 'ies'} {expected}"
                            f"{'' if seq - expected == 1 else f'-{seq - 1}'} missing (deleted)")
        if r["prev_hash"] != prev:
            problems.append(f"entry {seq} ({r['action']}) does not follow the entry before it "
                            "(an earlier entry was removed or changed)")
        try:
            detail = json.loads(r["detail"])
            entry = {"seq": seq, "utc": r["utc"], "actor": r["actor"], "origin": r["origin"],
                     "action": r["action"], "detail": detail}
            good = entry_hash(r["prev_hash"], entry) == r["hash"]
        except (ValueError, TypeError):
            detail, good = {}, False
        if not good:
            problems.append(f"entry {seq} ({r['action']}) does not match its hash (edited)")
        for ref in detail.get("rows", []) if isinstance(detail, dict) else []:
            if isinstance(ref, list) and len(ref) == 3:
                refs[(str(ref[0]), str(ref[1]))] = (str(ref[2]), seq)
        prev, expected = r["hash"], seq + 1
    for table, pk in AUDITED.items():
        for row in rows(f"SELECT * FROM {table} ORDER BY {pk}"):
            key = str(row[pk])
            ref = refs.pop((table, key), None)
            if ref is None:
                problems.append(f"{table} row {key} is not in the audit log (added outside caddm-inspector)")
            elif ref[0] != row_digest(table, row):
                problems.append(f"{table} row {key} was changed after audit entry {ref[1]} recorded it")
    for (table, key), (_, seq) in sorted(refs.items(), key=lambda kv: kv[1][1]):
        problems.append(f"{table} row {key}, recorded by audit entry {seq}, is missing (deleted)")
    return AuditCheck(entries=n, head=prev, problems=problems)

def verify_case(case, files: bool = True) -> VerifyReport:
    """The whole case checked: SQLite's integrity check, the audit chain and rows (`check_audit`), every
    stored result against its SHA-256, and (`files`) every evidence file and the latest export at each path
    re-hashed against what the case recorded."""
    report = VerifyReport(integrity=case.integrity(), audit=case.check_audit())
    for rec in case.analyses():
        try:
            case.result(rec.id)
        except CaseError as e:
            report.findings.append(Finding("changed", f"analysis {rec.id}", str(case.path), e.problem))
    if not files:
        return report
    for it in case.items():
        report.findings.append(_check_file_hash(f"evidence {it.item}", it.abs_path, it.sha256))
    latest: dict[str, ExportRecord] = {}
    for ex in case.exports():
        latest[ex.path] = ex
    for ex in case.exports():
        what = f"export {ex.id} (item {ex.item}, {ex.format})"
        if latest[ex.path].id != ex.id:
            report.findings.append(Finding("ok", what, ex.path, f"replaced by export {latest[ex.path].id}"))
        else:
            report.findings.append(_check_file_hash(what, ex.path, ex.sha256))
    return report


def _check_file_hash(what: str, path: str, sha256: str) -> Finding:
    """`path` re-hashed against the SHA-256 a case recorded for it: a `Finding` ("ok", "missing", "changed")."""
    if not os.path.isfile(path):
        return Finding("missing", what, path, "file not found")
    try:
        now = sha256_file(path)
    except OSError as e:
        return Finding("missing", what, path, f"cannot be read ({e.strerror or e})")
    if now != sha256:
        return Finding("changed", what, path, f"SHA-256 is now {now}, the case recorded {sha256}")
    return Finding("ok", what, path, f"SHA-256 {sha256[:16]}... matches")


def check_evidence_file(what: str, path: str | os.PathLike, sha256: str, unreadable_hint: str = "") -> None:
    """Before an evidence file's frames are shown as evidence (a report's frame images): re-hash it. A `CaddmError`
    naming the file when it is missing or cannot be read (`unreadable_hint` appended) or no longer has the SHA-256
    the case recorded for `what` (e.g. "evidence item 2")."""
    f = _check_file_hash(what, os.fspath(path), sha256)
    if f.status == "missing":
        raise CaddmError(f.path, f"{what}: {f.message}{unreadable_hint}")
    if f.status == "changed":
        raise CaddmError(f.path, f"{what} has changed ({f.message}); its frames are not shown as evidence")
