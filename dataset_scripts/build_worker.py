"""Per-image work of the LRRG builder (runs in worker processes): make or read the image, hash, assess.

Kept free of `datasets` / `pyarrow` imports so that spawned workers start fast.
"""

from __future__ import annotations

import importlib
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build_cache import BuildCache, content_hash, write_atomic
from .sources.record import StudyRecord

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Set by `init_worker` in every worker (and in the main process when num_proc == 1).
_STATE: dict[str, Any] = {}


@dataclass
class Outcome:
    """What one unit of work produced; `skip_reason` is set when the study cannot enter the benchmark."""

    record: dict[str, Any] | None = None
    skip_reason: str | None = None
    skip_detail: str = ""
    image_bytes: bytes | None = None
    image_file: str | None = None
    content_hash: str | None = None
    quality: dict[str, Any] | None = None
    quality_is_new: bool = False
    made_record_key: str | None = None


@dataclass(frozen=True)
class SyntheticTask:
    """Degrade one HQ test image with one kind at one severity."""

    parent_file: str
    parent_hash: str
    kind: str
    severity: int
    seed: int

    @property
    def cache_key(self) -> str:
        return f"{self.parent_hash}-{self.kind}-{self.severity}-{self.seed}"


def init_worker(source: Any, agent: Any, cache: BuildCache | str, fingerprint: str) -> None:
    """Sets the per-process state (a worker opens its own read connection to the cache)."""
    _STATE.update(
        source=source,
        agent=agent,
        cache=cache if isinstance(cache, BuildCache) else BuildCache(cache, readonly=True),
        fingerprint=fingerprint,
    )


def encode_png(image: Any) -> bytes:
    """PNG bytes of a PIL image (fast compression: the cache and Parquet compress again anyway)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def summarize_report(report: Any) -> dict[str, Any]:
    """The part of a `QualityReport` the dataset stores (label, score, flagged criteria, reasons, error)."""
    error = getattr(report, "error", None)
    flagged = getattr(report, "flagged_criteria", None)
    if flagged is None:
        flagged = [name for name, flag in (getattr(report, "flags", None) or {}).items() if flag.get("flagged")]
    score = getattr(report, "score", None)
    return {
        "label": getattr(report, "label", None),
        "score": None if score is None else float(score),
        "flags": [str(name) for name in flagged],
        "reasons": [str(reason) for reason in (getattr(report, "reasons", None) or [])],
        "error": None if error is None else str(error),
    }


def _assess(image_bytes: bytes, target: Any, outcome: Outcome) -> None:
    """Looks the content up in the cache, or runs AQAA on `target` (image or path)."""
    outcome.content_hash = content_hash(image_bytes)
    key = f"{_STATE['fingerprint']}:{outcome.content_hash}"
    cached = _STATE["cache"].get_quality(key)
    if cached is not None:
        outcome.quality = cached
        return
    outcome.quality = summarize_report(_STATE["agent"].assess(target))
    outcome.quality_is_new = True


def _made_study(spec: Any, outcome: Outcome) -> StudyRecord:
    """A study whose image is made in memory (phantoms): from the cache, or made and cached now."""
    cache: BuildCache = _STATE["cache"]
    png = cache.image_path("phantoms", spec.cache_key)
    cached = cache.get_record(spec.cache_key)
    if cached is not None and png.is_file():
        outcome.image_bytes = png.read_bytes()
        outcome.image_file = str(png)
        return StudyRecord.from_dict(cached)
    record = _STATE["source"].load(spec)
    if record.image is not None:
        outcome.image_bytes = encode_png(record.image)
        write_atomic(png, outcome.image_bytes)
        outcome.image_file = str(png)
        outcome.made_record_key = spec.cache_key
    return record


def process_study(spec: Any) -> Outcome:
    """Turns one source spec into an `Outcome` (record, image bytes, AQAA result, or a skip reason)."""
    outcome = Outcome()
    try:
        if getattr(spec, "cache_key", None) is not None:
            record = _made_study(spec, outcome)
        else:
            record = _STATE["source"].load(spec)
    except Exception as error:  # one bad study never stops the build
        outcome.skip_reason, outcome.skip_detail = "source error", f"{type(error).__name__}: {error}"
        return outcome
    outcome.record = record.to_dict()
    where = record.extra.get("where") or record.image_path or f"study {record.study_id}"
    if not record.has_report:
        if record.extra.get("report_missing"):
            outcome.skip_reason = "missing report"
            outcome.skip_detail = (f"{record.extra.get('report_path') or where} not found; download the reports "
                                   "(e.g. mimic-cxr-reports) or point --reports-root at them")
        else:
            outcome.skip_reason = "empty report"
            outcome.skip_detail = f"{where}: findings and impression are both empty; fill in the report or drop the study"
        return outcome
    if outcome.image_bytes is None:
        path = record.image_path
        if not path:
            outcome.skip_reason = "missing image"
            outcome.skip_detail = f"{where}: no image file named; fill in the image column"
            return outcome
        if not os.path.isfile(path):
            outcome.skip_reason = "missing image"
            outcome.skip_detail = f"{path} not found; check --root (and --images-dir) or download the image"
            return outcome
        outcome.image_bytes = Path(path).read_bytes()
        outcome.image_file = path
    target = record.image if record.image is not None else outcome.image_file
    _assess(outcome.image_bytes, target, outcome)
    if outcome.quality["error"] or outcome.quality["label"] is None:
        outcome.skip_reason = "unreadable image"
        outcome.skip_detail = outcome.quality["error"] or "AQAA returned no label"
        outcome.image_bytes = None
    return outcome


def process_synthetic(task: SyntheticTask) -> Outcome:
    """Degrades one HQ test image (or reads it from the cache) and assesses the result."""
    from .degradations import degrade
    from .image_io import open_image

    outcome = Outcome()
    png = _STATE["cache"].image_path("synthetic", task.cache_key)
    target: Any
    try:
        if png.is_file():
            outcome.image_bytes = png.read_bytes()
            target = str(png)
        else:
            target = degrade(open_image(task.parent_file), task.kind, task.severity, task.seed)
            outcome.image_bytes = encode_png(target)
            write_atomic(png, outcome.image_bytes)
        outcome.image_file = str(png)
        _assess(outcome.image_bytes, target, outcome)
    except Exception as error:  # one bad image never stops the build
        outcome.skip_reason, outcome.skip_detail = "degradation error", f"{type(error).__name__}: {error}"
        outcome.image_bytes = None
    return outcome


def _run_chunk(function: Callable[[Any], Outcome], chunk: list[Any]) -> list[Outcome]:
    return [function(item) for item in chunk]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_ordered(
    function: Callable[[Any], Outcome],
    items: Iterable[Any],
    pool: multiprocessing.pool.Pool | None,
    chunk_size: int = 8,
    window: int = 4,
) -> Iterator[tuple[Any, Outcome]]:
    """Applies `function` to `items` (in `pool`, or here when `pool` is None), yielding in input order.

    At most `window` chunks per worker are in flight, so memory stays flat however many items there are.
    """
    if pool is None:
        for item in items:
            yield item, function(item)
        return
    pending: deque = deque()
    limit = window * max(1, getattr(pool, "_processes", 1))
    for chunk in _chunks(items, chunk_size):
        pending.append((chunk, pool.apply_async(_run_chunk, (function, chunk))))
        while len(pending) >= limit:
            done_chunk, result = pending.popleft()
            yield from zip(done_chunk, result.get())
    while pending:
        done_chunk, result = pending.popleft()
        yield from zip(done_chunk, result.get())


def make_pool(num_proc: int, source: Any, agent: Any, cache_folder: Path, fingerprint: str, start_method: str | None = None):
    """A process pool whose workers hold the source, the agent and a read connection to the cache.

    `fork` (the default where available, as `datasets.map(num_proc=...)` uses) starts workers at once with
    every module already imported; `spawn` re-imports numpy / scipy / scikit-image in each worker, which
    costs seconds on a busy machine.
    """
    if start_method is None:
        start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(start_method)
    if start_method == "fork":
        for module in (*getattr(source, "worker_modules", ()), "lrrg.dataset_scripts.degradations"):
            importlib.import_module(module)
    # One BLAS / OpenMP thread per worker: num_proc workers already fill the cores, and oversubscribed
    # spinning thread pools make a parallel build slower than a serial one. Children read the
    # environment when they import numpy, so set it around the spawn and restore it after.
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        return context.Pool(num_proc, initializer=init_worker, initargs=(source, agent, str(cache_folder), fingerprint))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


__all__ = [
    "Outcome",
    "SyntheticTask",
    "encode_png",
    "init_worker",
    "make_pool",
    "process_study",
    "process_synthetic",
    "run_ordered",
    "summarize_report",
]
