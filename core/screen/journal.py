"""The output folder of a screen and how each finished video is committed to it.

    DIR/screen.json               the screen's model (SHA-256) and result-affecting settings (one pair per folder)
    DIR/results/<sha256>.json     each analysed video's full result, as `AnalysisResult.save_json` writes it
    DIR/records/<key>.json        the commit record of one video: its row's analysis part (`core.screen.rows`)
    DIR/results.parquet, DIR/summary.csv   rebuilt from the records (periodically and at the end)

`key` is `ResultCache.key(video SHA-256, model SHA-256, settings)`, the cache's one derivation: a renamed copy has
the same key (not analysed twice), another model or other settings another. A video is done once its record
exists: the result file is written first, the record after it, each atomically (`core.common.atomic`), so a driver
killed at any point leaves each video either done, with both files whole, or not done (a result file without a
record is simply written again).
"""
from __future__ import annotations

import json
from pathlib import Path

from core.common.atomic import atomic_write_text
from core.analysis.cache import ResultCache
from core.common.errors import OutputError
from core.common.formatting import utc_now
from core.analysis.results import AnalysisResult

MANIFEST = "screen.json"
MANIFEST_SCHEMA = "caddm-inspector/screen@1"
RECORDS = "records"
RESULTS = "results"
RECORD_SCHEMA = "caddm-inspector/screen-record@1"


def record_key(video_sha256: str, model_sha256: str, settings: dict) -> str:
    """The commit key of a video (64 hex digits); `settings`: `AnalysisSettings.result_affecting()`."""
    return ResultCache.key(video_sha256, model_sha256, settings)


def result_file(sha256: str) -> str:
    """Where a video's full result lies, relative to the output folder."""
    return f"{RESULTS}/{sha256}.json"


def check_manifest(out: Path, model_sha256: str, model_name: str, settings: dict) -> str | None:
    """Bind `out` to this model and these settings: write `screen.json` when absent; None when it matches, else a
    line saying what differs (the caller refuses: one screen per folder, its rows comparable)."""
    path = out / MANIFEST
    want = {"schema": MANIFEST_SCHEMA, "model_sha256": model_sha256, "model_name": model_name, "settings": settings}
    try:
        have = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        atomic_write_text(path, json.dumps({**want, "created_utc": utc_now()}, indent=1, sort_keys=True) + "\n")
        return None
    except (OSError, ValueError) as e:
        return f"{path}: unreadable screen manifest ({e}); choose another --out"
    if not isinstance(have, dict):
        return f"{path}: not a screen manifest; choose another --out"
    if have.get("model_sha256") != model_sha256:
        return (f"{out} holds a screen with model {have.get('model_name')!r} (SHA-256 "
                f"{str(have.get('model_sha256'))[:16]}...), not {model_name!r} ({model_sha256[:16]}...); "
                "a screen with another model needs another --out")
    if have.get("settings") != json.loads(json.dumps(settings)):
        had = (have.get("settings") or {}).get("frame_selection")
        return (f"{out} holds a screen with other analysis settings (frames {json.dumps(had)}, now "
                f"{json.dumps(settings.get('frame_selection'))}; see {path}): rerun with the same --frames / "
                "--all-frames or choose another --out")
    return None


def load_records(out: Path) -> dict[str, dict]:
    """key -> record, for every readable record in `out/records/` (temporary files of an interrupted write and
    unreadable records are skipped: those videos are analysed again)."""
    found = {}
    folder = out / RECORDS
    if not folder.is_dir():
        return found
    for p in folder.glob("*.json"):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("schema") == RECORD_SCHEMA and rec.get("key") == p.stem:
            found[p.stem] = rec
    return found


def commit(out: Path, key: str, fields: dict, result: dict | None, run_id: str) -> dict:
    """Commit one video: its full result (an `AnalysisResult.to_dict()`, None for an error) to
    `results/<sha256>.json`, then its record. Returns the record. OutputError naming the file when it cannot write."""
    rel = ""
    if result is not None:
        rel = result_file(fields["sha256"])
        (out / RESULTS).mkdir(exist_ok=True)
        AnalysisResult.from_dict(result).save_json(out / rel)
    record = {"schema": RECORD_SCHEMA, "key": key, "run": run_id, "committed_utc": utc_now(), "result_file": rel,
              "fields": fields}
    (out / RECORDS).mkdir(exist_ok=True)
    path = out / RECORDS / f"{key}.json"
    try:
        atomic_write_text(path, json.dumps(record, indent=1, allow_nan=False) + "\n")
    except OSError as e:
        raise OutputError(path, f"cannot write the screen record ({e.strerror or e})") from e
    return record
