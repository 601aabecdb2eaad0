"""The driver of a screen: hash the inputs, skip what the output folder has done, send the rest to a fixed set of
Ray actors (`core.screen.worker.Screener`, one video in flight each), commit each video as it finishes, rebuild the
tables every `REBUILD_EVERY_S` seconds and at the end.

Why actors and not Ray Data or plain tasks: a worker's start-up (torch, ONNX Runtime, the model and its ONNX
parity check, dlib's models: seconds and about 1.4 GB) is paid once per actor, not per video, and a video is a
whole unit of work with its own decode pipeline, not a stream of rows to batch. Work is pulled: an actor gets its
next video when it hands back the last, so slow videos do not hold up fast ones.

A worker process that dies mid-video is restarted by Ray (`max_restarts=-1`) and the video retried
(`max_task_retries=retries`); after the last retry the video gets an error row and the screen goes on.
"""
from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from core.common.hashing import sha256_file
from core.screen import journal
from core.screen.rows import error_fields, make_row, write_tables

#: Seconds between two rebuilds of results.parquet and summary.csv while a screen runs.
REBUILD_EVERY_S = 30.0
#: Environment variable of the worker's test hook (`core.screen.worker`): NAME or NAME:MARKER.
CRASH_ENV = "CADDM_SCREEN_TEST_CRASH"


@dataclass
class ScreenReport:
    """What a screen did: `rows` (one per input, in input order), how many videos it analysed now (`analysed`),
    found done already (`skipped`), the workers' start-up facts (`workers`: `Screener.ready()` each) and the
    largest resident memory a worker reported (MiB), seconds in all and to start the workers."""

    rows: list[dict]
    analysed: int = 0
    skipped: int = 0
    workers: list[dict] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    start_s: float = 0.0  # from creating the actors to all of them ready (process, imports, models)

    @property
    def errors(self) -> int:
        return sum(r["status"] == "error" for r in self.rows)


def hash_inputs(paths: list[Path], threads: int = 4) -> list[tuple[int | None, str | None, str]]:
    """(size in bytes, SHA-256, "") per path, or (None, None, problem naming the file) when it cannot be read.
    Evidence is only read (opened "rb")."""
    def one(p: Path):
        try:
            if p.is_dir():
                return None, None, f"{p}: is a folder"
            return p.stat().st_size, sha256_file(p), ""
        except FileNotFoundError:
            return None, None, f"{p}: no such file"
        except OSError as e:
            return None, None, f"{p}: cannot read ({e.strerror or e})"

    with ThreadPoolExecutor(max(1, threads)) as pool:
        return list(pool.map(one, paths))


def table_rows(paths, hashed, records: dict[str, dict], key_of) -> list[dict]:
    """The rows of the inputs done so far, in input order: a hashed input with a record gets the record's analysis
    part, an unreadable input an error row; an input still waiting has no row."""
    rows = []
    for p, (size, sha, problem) in zip(paths, hashed):
        if sha is None:
            rows.append(make_row(p, size, error_fields("", problem)))
            continue
        rec = records.get(key_of(sha))
        if rec is not None:
            rows.append(make_row(p, size, rec["fields"], rec["result_file"]))
    return rows


def _actor_error(path: Path, error, retries: int) -> str:
    """One line for a video whose worker died on every try."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f"{path}: the worker analysing it died {retries + 1} time{'s' * (retries > 0)} "
            f"({type(error).__name__}: {first[:200]})")


def default_workers(resources: dict, cpus_per_worker: float, gpus_per_worker: float) -> int:
    """Actors that fit the cluster's `resources` (`ray.cluster_resources()`): its CPUs / `cpus_per_worker`, and with
    GPUs asked for, at most its GPUs / `gpus_per_worker`; at least 1."""
    n = int(resources.get("CPU", 1) // max(cpus_per_worker, 1e-9))
    if gpus_per_worker > 0:
        n = min(n, int(resources.get("GPU", 0) // gpus_per_worker))
    return max(1, n)


def screen(paths: list[Path], out: Path, model, options, *, connect=None, workers: int | None = None,
           cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0, retries: int = 2, retry_errors: bool = False,
           progress=None, model_sha256: str, model_name: str) -> ScreenReport:
    """Screen `paths` into `out`. `connect()`: joins or starts Ray, called only when something is left to analyse
    (None: the caller has called `ray.init`). `workers` None: `default_workers`. `progress(done, total,
    suspicious)`: called as videos finish (and once at the start with what was done already). The model must be the
    one `model_sha256` names (the workers check it). Raises `ScreenError` when the workers cannot start."""
    import ray

    from core.screen.worker import Screener

    t_start = time.perf_counter()
    run_id = uuid.uuid4().hex[:12]
    settings = options.settings().result_affecting()

    def key_of(sha: str) -> str:
        return journal.record_key(sha, model_sha256, settings)

    hashed = hash_inputs(paths)
    records = journal.load_records(out)
    if retry_errors:
        records = {k: r for k, r in records.items() if r["fields"]["status"] != "error"}
    todo: dict[str, Path] = {}  # sha -> the first input with it (a renamed copy shares the analysis)
    for p, (_, sha, _) in zip(paths, hashed):
        if sha is not None and key_of(sha) not in records and sha not in todo:
            todo[sha] = p
    report = ScreenReport(rows=[])
    copies: dict[str, int] = {}  # sha -> how many inputs have it
    for _, sha, _ in hashed:
        if sha is not None:
            copies[sha] = copies.get(sha, 0) + 1
    report.skipped = sum(n for sha, n in copies.items() if key_of(sha) in records)
    unreadable = sum(sha is None for _, sha, _ in hashed)
    done = unreadable + report.skipped
    suspicious = sum(n for sha, n in copies.items()
                     if key_of(sha) in records and records[key_of(sha)]["fields"]["verdict"] == "fake")

    def rebuild() -> None:
        report.rows = table_rows(paths, hashed, records, key_of)
        write_tables(report.rows, out)

    total = len(paths)
    if progress:
        progress(done, total, suspicious)
    rebuild()
    if todo:
        if connect is not None:
            connect()
        if workers is None:
            workers = default_workers(ray.cluster_resources(), cpus_per_worker, gpus_per_worker)
        crash = os.environ.get(CRASH_ENV, "")
        device = "auto" if gpus_per_worker > 0 else "cpu"
        Actor = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=-1,
                           max_task_retries=retries)(Screener)
        actors = [Actor.remote(model, device, options, crash) for _ in range(max(1, min(workers, len(todo))))]
        t_actors = time.perf_counter()
        try:
            report.workers = ray.get([a.ready.remote() for a in actors])
            report.start_s = time.perf_counter() - t_actors
        except ray.exceptions.RayError as e:
            raise ScreenError(f"the screening workers could not start: {e}") from None
        for w in report.workers:
            if w["model_sha256"] != model_sha256:
                raise ScreenError(f"a worker on {w['host']} loaded another model (SHA-256 {w['model_sha256'][:16]}..., "
                                  f"not {model_sha256[:16]}...): the model path must name the same file on every node")
        report.peak_rss_mb = max(w["rss_mb"] for w in report.workers)
        queue = list(todo.items())
        inflight: dict = {}

        def send(actor) -> None:
            if queue:
                sha, p = queue.pop(0)
                inflight[actor.analyze.remote(str(p), sha)] = (actor, sha, p)

        for a in actors:
            send(a)
        last_rebuild = time.monotonic()
        try:
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    actor, sha, p = inflight.pop(ref)
                    try:
                        got = ray.get(ref)
                        fields, result = got["fields"], got["result"]
                        report.peak_rss_mb = max(report.peak_rss_mb, got["rss_mb"])
                    except ray.exceptions.RayError as e:
                        fields, result = error_fields(sha, _actor_error(p, e, retries), model_sha256, model_name), None
                    records[key_of(sha)] = journal.commit(out, key_of(sha), fields, result, run_id)
                    report.analysed += 1
                    done += copies[sha]
                    suspicious += copies[sha] * (fields["verdict"] == "fake")
                    send(actor)
                    if progress:
                        progress(done, total, suspicious)
                if time.monotonic() - last_rebuild >= REBUILD_EVERY_S:
                    rebuild()
                    last_rebuild = time.monotonic()
        finally:
            for a in actors:
                ray.kill(a)
            rebuild()  # also after Ctrl-C: the tables hold everything committed
    report.seconds = time.perf_counter() - t_start
    return report


class ScreenError(RuntimeError):
    """The screen cannot go on (workers do not start, or load another model): one line."""
