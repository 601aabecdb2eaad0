"""The case file: one SQLite database per investigation that owns the analyst's work (evidence, analyses, review,
exports, a hash-chained audit log; docs/CASES.md).

    schema        the file's fixed facts (suffix, application id, migrations, audited tables)
    errors        CaseError and its kinds
    records       the records a case hands out (frozen dataclasses)
    audit         canonical JSON, row digests and entry hashes of the audit chain
    lock          the one-writer lock
    store         `Case`: opening, creating, migrating, writing and reading a case
    verify        integrity, audit chain and file checks (`Case.verify`)
    review_offer  review work found in the result cache, offered to a case

May import: `core.common`, `core.media.evidence`, `core.analysis.results`. No OpenCV, no torch: the app,
`caddm-analyze` and `caddm-case` share it. The names below are the package's public API."""
from core.case.audit import canonical_json, entry_hash, login_name, result_blob, row_digest, utc_now
from core.case.errors import CaseError, CaseLockedError, CaseReadOnlyError, CaseVersionError
from core.case.records import (AnalysisRecord, AuditCheck, AuditEntry, CaseMeta, EvidenceItem, ExportRecord, Finding,
                               ReviewAction, VerifyReport)
from core.case.review_offer import ReviewOffer, accept_review_offer, offer_cached_review, review_import_plan
from core.case.schema import APPLICATION_ID, AUDITED, CASE_SUFFIX, GENESIS, MIGRATIONS, SCHEMA_VERSION
from core.case.store import Case
from core.case.verify import check_evidence_file

__all__ = ["APPLICATION_ID", "AUDITED", "CASE_SUFFIX", "GENESIS", "MIGRATIONS", "SCHEMA_VERSION", "AnalysisRecord",
           "AuditCheck", "AuditEntry", "Case", "CaseError", "CaseLockedError", "CaseMeta", "CaseReadOnlyError",
           "CaseVersionError", "EvidenceItem", "ExportRecord", "Finding", "ReviewAction", "ReviewOffer", "VerifyReport",
           "accept_review_offer", "canonical_json", "check_evidence_file", "entry_hash", "login_name",
           "offer_cached_review", "result_blob", "review_import_plan", "row_digest", "utc_now"]
