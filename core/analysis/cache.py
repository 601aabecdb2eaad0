"""Result cache: one JSON file per (video SHA-256, model SHA-256, result-affecting settings).

Files live in ``root/<key>.json`` (root: ``$CADDM_CACHE_DIR`` or ``~/.cache/caddm-inspector``). The key hashes a
canonical JSON (sorted keys, no spaces) of the video hash, model hash, the settings that change scores or boxes
(`AnalysisSettings.result_affecting()`: frame selection, detector, extra; not the threshold, device or batch size),
the result schema and the software version (a new version may analyse differently, so it does not reuse old entries).
Only complete results are stored; writes are atomic; an unreadable entry is removed and treated as a miss.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from core import __version__
from core.common.cache_dir import default_root
from core.common.errors import CaddmError, OutputError
from core.analysis.results import SCHEMA, AnalysisResult, AnalysisSettings, load_json


class ResultCache:
    """get/put analysis results by key; see the module docstring."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    @staticmethod
    def key(video_sha256: str, model_sha256: str, settings: AnalysisSettings | dict) -> str:
        """64 hex digits identifying what a result depends on. `settings` is an AnalysisSettings (only its
        result-affecting part counts) or that part as a dict."""
        part = settings.result_affecting() if isinstance(settings, AnalysisSettings) else dict(settings)
        part.pop("threshold", None)
        canon = json.dumps({"video": video_sha256.lower(), "model": model_sha256.lower(), "settings": part,
                            "schema": SCHEMA, "version": __version__},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
        return hashlib.sha256(canon.encode("ascii")).hexdigest()

    def key_for(self, result: AnalysisResult) -> str:
        """The key a result is stored under: `key` of what it records."""
        return self.key(result.video.sha256, result.model.sha256, result.settings)

    def path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / f"{key}.json"

    def get(self, key: str) -> AnalysisResult | None:
        """The cached result, or None (missing, or an unreadable/incomplete entry, which is removed)."""
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            result = load_json(p)
        except CaddmError:
            result = None
        if result is None or not result.complete:
            with contextlib.suppress(OSError):
                p.unlink()
            return None
        return result

    def put(self, key: str, result: AnalysisResult) -> Path | None:
        """Store a complete result atomically and return its path; an incomplete result is not stored (None).
        The cache holds the descriptors, not a comparison with a reference: a compared result is stored without
        it (`with_reference(None)`). OutputError naming the cache folder or file when it cannot be written."""
        if not result.complete:
            return None
        if result.reference is not None:
            result = result.with_reference(None)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(self.root, f"cannot create cache folder: {e.strerror or e}") from e
        p = self.path(key)
        result.save_json(p, indent=None)
        return p

    def results_for_video(self, video_sha256: str) -> list[tuple[Path, AnalysisResult]]:
        """Every readable cached result of the video with this SHA-256, whatever its model and settings, oldest
        written first: (entry path, result). Reads each entry's bytes; parses only those naming the hash."""
        sha = video_sha256.lower().encode("ascii")
        found = []
        paths = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if self.root.is_dir() else []
        for p in paths:
            try:
                if sha not in p.read_bytes():
                    continue
                result = load_json(p)
            except (OSError, CaddmError):
                continue
            if result.video.sha256 == video_sha256.lower():
                found.append((p, result))
        return found

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def clear(self) -> int:
        """Remove every entry and leftover temporary file; returns how many files were removed."""
        n = 0
        if self.root.is_dir():
            for p in list(self.root.glob("*.json")) + list(self.root.glob(".*.part")):
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
        return n
