"""The LRRG benchmark builder: source -> AQAA quality labels -> Parquet `DatasetDict` (full + labels configs).

Streams: records are processed in order by a bounded pool and rows are written to Parquet shards as they
come, so memory stays flat however large the source. AQAA results, made phantoms and degraded test
images are cached in `<out>/cache`, so a rerun or an interrupted run recomputes nothing it finished.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .build_cache import CACHE_DIRNAME, BuildCache, agent_fingerprint
from .build_summary import BuildSummary
from .build_worker import (
    Outcome,
    SyntheticTask,
    init_worker,
    make_pool,
    process_study,
    process_synthetic,
    run_ordered,
)
from .lrrg_features import (
    CONFIGS,
    DEFAULT_SPLIT_FRACTIONS,
    PRIVATE_COLUMNS,
    SPLITS,
    assign_split,
    check_fractions,
    lrrg_features,
)
from .observations import CHEXPERT_OBSERVATIONS
from .sources import StudySource, derive_seed, get_source

logger = logging.getLogger(__name__)

DATA_DIRNAME = "data"
_STAGING_DIRNAME = ".staging"
_WARN_PER_REASON = 5


def _column_encoders(features: Any) -> dict[str, Any]:
    """Per-column value encoders: ClassLabel names -> ids (also inside lists), everything else as is.

    A few times faster than `Features.encode_example`, which walks every value generically; the schema
    here is fixed and flat.
    """
    from datasets import ClassLabel, List

    def identity(value: Any) -> Any:
        return value

    def label_encoder(feature: Any):
        return lambda value: None if value is None else feature.str2int(value) if isinstance(value, str) else int(value)

    def list_encoder(feature: Any):
        encode = label_encoder(feature)
        return lambda values: [encode(v) for v in values or ()]

    encoders: dict[str, Any] = {}
    for name, feature in features.items():
        if isinstance(feature, ClassLabel):
            encoders[name] = label_encoder(feature)
        elif isinstance(feature, List) and isinstance(feature.feature, ClassLabel):
            encoders[name] = list_encoder(feature.feature)
        else:
            encoders[name] = identity
    return encoders


class ShardedParquetWriter:
    """Writes one split of one config as `split-XXXXX-of-YYYYY.parquet` shards, row group by row group.

    Args:
        folder: where the shards go.
        split: split name (file prefix).
        features: the config's `datasets.Features` (its Arrow schema carries the ClassLabel names).
        rows_per_group: rows buffered before a row group is written.
        max_shard_bytes: start a new shard after this many (uncompressed, approximate) bytes.
    """

    def __init__(self, folder: Path, split: str, features: Any, rows_per_group: int = 64, max_shard_bytes: int = 500 << 20):
        self.folder, self.split, self.features = folder, split, features
        self.schema = features.arrow_schema
        self.rows_per_group, self.max_shard_bytes = rows_per_group, max_shard_bytes
        self._buffer: list[dict[str, Any]] = []
        self._encoders = _column_encoders(features)
        self._writer: Any = None
        self._shard_bytes = 0
        self.paths: list[Path] = []
        self.num_rows = 0

    def add(self, row: dict[str, Any]) -> None:
        """Adds one row (plain Python values; ClassLabel columns as names)."""
        self._buffer.append({name: encode(row.get(name)) for name, encode in self._encoders.items()})
        self.num_rows += 1
        if len(self._buffer) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer = []
        if self._writer is None or self._shard_bytes >= self.max_shard_bytes:
            self._close_writer()
            path = self.folder / f"{self.split}-{len(self.paths):05d}.parquet"
            self.folder.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(path, self.schema)
            self.paths.append(path)
            self._shard_bytes = 0
        self._writer.write_table(table)
        self._shard_bytes += table.nbytes

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> list[Path]:
        """Flushes, names the shards `-XXXXX-of-YYYYY` and returns them (none for an empty split).

        `datasets` cannot load a split without rows, so an empty split has no file and the card omits it.
        """
        self._flush()
        self._close_writer()
        final = []
        for index, path in enumerate(self.paths):
            target = path.with_name(f"{self.split}-{index:05d}-of-{len(self.paths):05d}.parquet")
            path.rename(target)
            final.append(target)
        return final


def _quality_columns(quality: dict[str, Any]) -> dict[str, Any]:
    return {
        "quality_label": quality["label"],
        "quality_score": quality["score"],
        "quality_flags": list(quality["flags"]),
        "quality_reasons": list(quality["reasons"]),
    }


def make_rows(
    record: dict[str, Any], outcome: Outcome, degradation: tuple[str, int, int] | None = None
) -> dict[str, dict[str, Any]]:
    """The `full` and `labels` rows of one image.

    Args:
        record: the study record as a dict (`StudyRecord.to_dict()`).
        outcome: the image's bytes and AQAA result.
        degradation: `(kind, severity, seed)` for a synthetic image; else the record's own (phantoms).

    Returns:
        `{"full": row, "labels": row}`.
    """
    extra = record.get("extra") or {}
    kind, severity, seed = degradation or (
        extra.get("degradation", "none"),
        int(extra.get("severity", 0)),
        int(extra.get("degradation_seed", 0)),
    )
    suffix = Path(outcome.image_file or "").suffix or ".png"
    name = f"{record['image_id']}{'' if kind == 'none' or degradation is None else f'-{kind}-{severity}'}{suffix}"
    shared = {
        "subject_id": record["subject_id"],
        "study_id": record["study_id"],
        "image_id": record["image_id"],
        "view": record.get("view"),
        **_quality_columns(outcome.quality),
        "degradation": kind,
        "severity": severity,
        "degradation_seed": seed,
    }
    full = {
        "image": {"bytes": outcome.image_bytes, "path": name},
        **shared,
        "findings": record["findings"],
        "impression": record["impression"],
        **{label: record["labels"].get(label) for label in CHEXPERT_OBSERVATIONS},
    }
    labels = {**shared, "image_path": record.get("image_relpath")}
    return {"full": full, "labels": labels}


class _Writers:
    """One `ShardedParquetWriter` per (config, split), in the staging folder."""

    def __init__(self, staging: Path, configs: Sequence[str]):
        self.by_config = {
            config: {
                split: ShardedParquetWriter(staging / DATA_DIRNAME / config, split, lrrg_features(config))
                for split in SPLITS
            }
            for config in configs
        }

    def add(self, split: str, rows: dict[str, dict[str, Any]]) -> None:
        for config, writers in self.by_config.items():
            writers[split].add(rows[config])

    def close(self) -> dict[str, dict[str, list[Path]]]:
        return {config: {split: w.close() for split, w in writers.items()} for config, writers in self.by_config.items()}


def _log_skip(summary: BuildSummary, warned: dict[str, int], outcome: Outcome, spec: Any) -> None:
    reason = outcome.skip_reason
    summary.skip(reason)
    record = outcome.record or {}
    who = record.get("study_id") or getattr(spec, "study_id", None) or repr(spec)[:80]
    warned[reason] = warned.get(reason, 0) + 1
    level = logging.WARNING if warned[reason] <= _WARN_PER_REASON else logging.DEBUG
    logger.log(level, "skipping study %s: %s%s", who, reason, f" ({outcome.skip_detail})" if outcome.skip_detail else "")
    if warned[reason] == _WARN_PER_REASON:
        logger.warning("further '%s' skips are logged at DEBUG level only", reason)


def _store(cache: BuildCache, fingerprint: str, outcome: Outcome, summary: BuildSummary) -> None:
    """Records new results in the cache (main process only)."""
    if outcome.made_record_key and outcome.record is not None:
        cache.put_record(outcome.made_record_key, outcome.record)
    if outcome.quality is None:
        return
    if outcome.quality_is_new:
        cache.put_quality(f"{fingerprint}:{outcome.content_hash}", outcome.quality)
        summary.assessed += 1
    else:
        summary.cached += 1


def _progress(iterable: Any, total: int | None, description: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, unit="img", disable=not enabled, dynamic_ncols=True)


def _source_length(source: StudySource) -> int | None:
    try:
        return len(source)
    except TypeError:
        return None


def _study_pass(ctx: dict[str, Any], pool: Any) -> list[tuple[dict[str, Any], Outcome]]:
    """Processes every study; writes train / validation / test(_hq|_lq) rows; returns the HQ test studies."""
    source, summary, writers, cache = ctx["source"], ctx["summary"], ctx["writers"], ctx["cache"]
    hq_test: list[tuple[dict[str, Any], Outcome]] = []
    warned: dict[str, int] = {}
    specs = source.iter_specs()
    if ctx["max_studies"] is not None:
        specs = (spec for _, spec in zip(range(ctx["max_studies"]), specs))
    total = _source_length(source)
    if ctx["max_studies"] is not None:
        total = min(total, ctx["max_studies"]) if total is not None else ctx["max_studies"]
    for spec, outcome in _progress(run_ordered(process_study, specs, pool), total, "AQAA on studies", ctx["progress"]):
        summary.studies_seen += 1
        _store(cache, ctx["fingerprint"], outcome, summary)
        if outcome.skip_reason:
            _log_skip(summary, warned, outcome, spec)
            ctx["skip_log"].write(json.dumps({**_ids(outcome.record, spec), "reason": outcome.skip_reason, "detail": outcome.skip_detail}) + "\n")
            continue
        record = outcome.record
        split = record.get("split") or assign_split(record["subject_id"], ctx["seed"], ctx["fractions"])
        rows = make_rows(record, outcome)
        label = outcome.quality["label"]
        targets = [split] if split != "test" else ["test", "test_hq" if label == "high" else "test_lq"]
        for target in targets:
            writers.add(target, rows)
            summary.count(target, label)
        summary.add_flags(outcome.quality["flags"])
        if split == "test" and label == "high":
            hq_test.append((record, Outcome(image_file=outcome.image_file, content_hash=outcome.content_hash)))
    for reason, count in (getattr(source, "skipped", None) or {}).items():
        summary.skip(reason, count)
    return hq_test


def _ids(record: dict[str, Any] | None, spec: Any) -> dict[str, Any]:
    if record:
        return {key: record.get(key) for key in ("subject_id", "study_id", "image_id", "image_path")}
    return {"spec": repr(spec)[:200]}


def _synthetic_pass(ctx: dict[str, Any], pool: Any, hq_test: list[tuple[dict[str, Any], Outcome]]) -> None:
    """Degrades every HQ test image with each kind at each chosen severity; writes `test_synthetic`."""
    summary, writers, cache = ctx["summary"], ctx["writers"], ctx["cache"]
    tasks: list[tuple[dict[str, Any], SyntheticTask]] = [
        (
            record,
            SyntheticTask(parent.image_file, parent.content_hash, kind, severity, derive_seed("synthetic", ctx["seed"], record["image_id"], kind, severity)),
        )
        for record, parent in hq_test
        for kind in ctx["kinds"]
        for severity in ctx["severities"]
    ]
    records = (record for record, _ in tasks)
    warned: dict[str, int] = {}
    results = run_ordered(process_synthetic, (task for _, task in tasks), pool)
    for record, (task, outcome) in _progress(zip(records, results), len(tasks), "test_synthetic", ctx["progress"]):
        _store(cache, ctx["fingerprint"], outcome, summary)
        if outcome.skip_reason or outcome.quality["error"] or outcome.quality["label"] is None:
            outcome.skip_reason = outcome.skip_reason or "unreadable degraded image"
            _log_skip(summary, warned, outcome, task)
            continue
        rows = make_rows(record, outcome, degradation=(task.kind, task.severity, task.seed))
        writers.add("test_synthetic", rows)
        summary.count("test_synthetic", outcome.quality["label"])
        summary.add_flags(outcome.quality["flags"], synthetic=True)


def _resolve_source(source: str | StudySource, root: Any, num_studies: int | None, seed: int, image_size: int, options: dict) -> StudySource:
    if isinstance(source, StudySource):
        return source
    options = dict(options or {})
    if source == "phantom":
        options.setdefault("num_studies", num_studies or 500)
        options.setdefault("seed", seed)
        options.setdefault("size", image_size)
    elif num_studies is not None:
        raise ValueError("num_studies applies to the phantom source only; use max_studies to cap a real source")
    return get_source(source, root, **options)


def _default_agent() -> Any:
    from .aqaa import QualityAgent

    return QualityAgent()


def build_lrrg(
    source: str | StudySource,
    out: str | Path,
    root: str | Path | None = None,
    num_studies: int | None = None,
    num_proc: int = 1,
    seed: int = 0,
    *,
    quality_agent: Any = None,
    source_options: dict[str, Any] | None = None,
    image_size: int = 256,
    max_studies: int | None = None,
    split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
    synthetic_kinds: Sequence[str] | None = None,
    synthetic_severities: int | Sequence[int] = 3,
    configs: Sequence[str] = CONFIGS,
    push_to_hub: str | None = None,
    private: bool = False,
    progress: bool = True,
    print_summary: bool = True,
    start_method: str | None = None,
) -> Any:
    """Builds the LRRG benchmark from a source and writes it to `out` as a Hugging Face dataset folder.

    Args:
        source: `"mimic-cxr"`, `"iu-xray"`, `"folder"`, `"phantom"` or a `StudySource`.
        out: output folder (Parquet under `data/<config>/`, `README.md` card, `cache/`, summary files).
        root: the source's folder (not for phantoms).
        num_studies: number of phantom studies (default 500).
        num_proc: worker processes for image making and AQAA.
        seed: seeds the subject-level split, phantoms and synthetic degradations.
        quality_agent: an object with `assess(image_or_path) -> QualityReport`; default `QualityAgent()`.
        source_options: extra keyword arguments of the source class (e.g. `images_dir`, `view_priority`).
        image_size: phantom image side in pixels.
        max_studies: cap on the studies read from the source (first N in source order).
        split_fractions: train / validation / test fractions for sources without an official split.
        synthetic_kinds: degradation kinds of `test_synthetic` (default: all).
        synthetic_severities: severity (or severities) of `test_synthetic`.
        configs: which configs to write (`full`, `labels`).
        push_to_hub: a Hub repo id to upload to after the build (needs a token and network).
        private: make the Hub repo private.
        progress: show progress bars.
        print_summary: print the rich summary tables to stderr at the end.
        start_method: multiprocessing start method of the workers (default `fork` where available).

    Returns:
        The `DatasetDict` of the `full` config (or of `labels` when only that was built).
    """
    from .degradations import DEGRADATION_KINDS
    from .hub import load_lrrg, push_lrrg_to_hub, write_dataset_card

    started = time.perf_counter()
    configs = tuple(configs)
    if not configs or any(config not in CONFIGS for config in configs):
        raise ValueError(f"configs must be a non-empty subset of {CONFIGS}, got {configs!r}")
    if num_proc < 1:
        raise ValueError(f"num_proc must be >= 1, got {num_proc}")
    fractions = check_fractions(split_fractions)
    kinds = tuple(DEGRADATION_KINDS) if synthetic_kinds is None else tuple(synthetic_kinds)
    unknown = set(kinds) - set(DEGRADATION_KINDS)
    if unknown:
        raise ValueError(f"unknown degradation kind(s) {sorted(unknown)}; choose from {list(DEGRADATION_KINDS)}")
    severities = (synthetic_severities,) if isinstance(synthetic_severities, int) else tuple(synthetic_severities)
    if any(not 1 <= int(s) <= 5 for s in severities):
        raise ValueError(f"synthetic severities must be in 1..5, got {severities!r}")
    study_source = _resolve_source(source, root, num_studies, seed, image_size, source_options or {})
    agent = quality_agent if quality_agent is not None else _default_agent()
    out = Path(out).expanduser().resolve()
    staging = out / _STAGING_DIRNAME
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cache = BuildCache(out / CACHE_DIRNAME)
    fingerprint = agent_fingerprint(agent)
    summary = BuildSummary(
        source=study_source.name, description=study_source.describe(), seed=seed, num_proc=num_proc,
        split_fractions=list(fractions), synthetic_kinds=list(kinds), synthetic_severities=[int(s) for s in severities],
        aqaa_fingerprint=fingerprint,
    )
    logger.info("building the LRRG benchmark from %s into %s", summary.description, out)
    ctx = dict(
        source=study_source, summary=summary, cache=cache, fingerprint=fingerprint, seed=seed, fractions=fractions,
        kinds=kinds, severities=severities, max_studies=max_studies, progress=progress,
        writers=_Writers(staging, configs),
    )
    pool = make_pool(num_proc, study_source, agent, cache.folder, fingerprint, start_method) if num_proc > 1 else None
    if pool is None:
        init_worker(study_source, agent, cache, fingerprint)
    try:
        with (staging / "skipped.jsonl").open("w", encoding="utf-8") as skip_log:
            ctx["skip_log"] = skip_log
            hq_test = _study_pass(ctx, pool)
            _synthetic_pass(ctx, pool, hq_test)
        shards = ctx["writers"].close()
    finally:
        cache.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    _publish_staging(out, staging, configs)
    summary.seconds = time.perf_counter() - started
    summary.save(out / "build_summary.json")
    write_dataset_card(out, summary, study_source, agent, configs, {c: {s: len(p) for s, p in v.items()} for c, v in shards.items()})
    logger.info("LRRG benchmark written to %s in %.1f s", out, summary.seconds)
    if print_summary:
        summary.print()
    if push_to_hub:
        push_lrrg_to_hub(out, push_to_hub, private=private, redistributable=study_source.redistributable)
    return load_lrrg(out, config="full" if "full" in configs else "labels")


def _publish_staging(out: Path, staging: Path, configs: Sequence[str]) -> None:
    """Replaces the previous build's Parquet of each config with the new one."""
    for config in configs:
        target = out / DATA_DIRNAME / config
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        built = staging / DATA_DIRNAME / config
        if built.is_dir():
            built.rename(target)
        else:  # every study was skipped: no shard was written
            target.mkdir()
    (staging / "skipped.jsonl").replace(out / "skipped.jsonl")
    shutil.rmtree(staging, ignore_errors=True)


__all__ = ["DATA_DIRNAME", "PRIVATE_COLUMNS", "ShardedParquetWriter", "build_lrrg", "make_rows"]
