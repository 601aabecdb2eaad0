"""The case file's fixed facts: its suffix, SQLite application id, the schema migrations and the audited
tables. No imports: readers of the format (docs/CASES.md) start here."""
from __future__ import annotations



CASE_SUFFIX = ".caddmcase"
#: ``PRAGMA application_id`` of a case file ("CDMC"): an SQLite file without it is another program's.
APPLICATION_ID = 0x43444D43
SQLITE_MAGIC = b"SQLite format 3\x00"
#: The previous hash of the first audit entry.
GENESIS = "0" * 64

#: Schema migrations: (version, statements). A case at version v gets every migration above v, in one transaction
#: with an audit entry; a migration that changes rows of the audited tables must record their new digests.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (1, (
        """CREATE TABLE meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            case_id TEXT NOT NULL,
            analyst TEXT NOT NULL,
            notes TEXT NOT NULL,
            created_utc TEXT NOT NULL,
            software_version TEXT NOT NULL)""",
        """CREATE TABLE evidence (
            item INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            abs_path TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            size_bytes INTEGER NOT NULL,
            container TEXT NOT NULL,
            codec TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            fps REAL NOT NULL,
            frame_count INTEGER NOT NULL,
            rotation INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            probe_json TEXT NOT NULL,
            added_utc TEXT NOT NULL,
            added_by TEXT NOT NULL)""",
        """CREATE TABLE results (
            sha256 TEXT PRIMARY KEY,
            json_bytes INTEGER NOT NULL,
            json_zlib BLOB NOT NULL)""",
        """CREATE TABLE analyses (
            id INTEGER PRIMARY KEY,
            item INTEGER NOT NULL REFERENCES evidence(item),
            model_name TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            threshold REAL NOT NULL,
            verdict TEXT NOT NULL,
            video_score REAL,
            complete INTEGER NOT NULL,
            from_cache INTEGER NOT NULL,
            started_utc TEXT NOT NULL,
            ended_utc TEXT NOT NULL,
            software_version TEXT NOT NULL,
            result_sha256 TEXT NOT NULL REFERENCES results(sha256),
            recorded_utc TEXT NOT NULL,
            recorded_by TEXT NOT NULL)""",
        "CREATE INDEX analyses_item ON analyses(item, id)",
        """CREATE TABLE review (
            id INTEGER PRIMARY KEY,
            item INTEGER NOT NULL REFERENCES evidence(item),
            target TEXT NOT NULL CHECK (target IN ('frame', 'track')),
            idx INTEGER NOT NULL CHECK (idx >= 0),
            kind TEXT NOT NULL CHECK (kind IN ('flag', 'note')),
            value TEXT NOT NULL CHECK (kind = 'note' OR value IN ('0', '1')),
            author TEXT NOT NULL,
            utc TEXT NOT NULL,
            source TEXT NOT NULL)""",
        "CREATE INDEX review_item ON review(item, target, idx, kind, id)",
        """CREATE TABLE exports (
            id INTEGER PRIMARY KEY,
            item INTEGER NOT NULL REFERENCES evidence(item),
            analysis INTEGER NOT NULL REFERENCES analyses(id),
            format TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            utc TEXT NOT NULL,
            author TEXT NOT NULL)""",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            utc TEXT NOT NULL,
            actor TEXT NOT NULL,
            origin TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL)""",
    )),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
#: The tables whose every row an audit entry records (table -> primary key column).
AUDITED = {"meta": "id", "evidence": "item", "results": "sha256", "analyses": "id", "review": "id",
           "exports": "id"}
