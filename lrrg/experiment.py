"""The main job, `lrrg benchmark`: build the LRRG benchmark, train erm / erm_aug / dual_loop, evaluate by quality.

Every stage writes its result to the run folder as soon as it is finished (the dataset, each trained model,
each stratum's generated reports), so a rerun or an interrupted run reuses them and recomputes nothing.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ARMS = ("erm", "erm_aug", "dual_loop")
SOURCES = ("phantom", "mimic-cxr", "iu-xray", "folder")
_DONE_MARKER = "lrrg_training_done.json"


@dataclass
class BenchmarkArguments:
    """Options of `lrrg benchmark` (the defaults are the built-in phantom benchmark on a laptop CPU)."""

    source: str = "phantom"
    root: str | None = None
    out: str | None = None
    model_config: str = "tiny"
    vision: str | None = None
    text: str | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    quick: bool = False
    num_studies: int | None = None
    image_size: int = 128
    max_steps: int | None = None
    batch_size: int = 8
    learning_rate: float = 1e-3
    inner_lr: float = 0.05
    outer_weight: float = 1.0
    consistency_weight: float = 0.0
    tune: bool = False
    lora_r: int = 0
    bf16: bool = False
    num_proc: int = 2
    max_test_samples: int | None = None
    max_synthetic_studies: int | None = 10
    synthetic_severities: list[int] = field(default_factory=lambda: [1, 3, 5])
    max_new_tokens: int = 96
    num_resamples: int = 1000
    source_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.source != "phantom" and not self.root:
            raise ValueError(f"--source {self.source} needs --root PATH (the folder that holds the data)")
        if not self.seeds:
            raise ValueError("give at least one seed")
        if any(not 1 <= s <= 5 for s in self.synthetic_severities):
            raise ValueError(f"synthetic severities must be in 1..5, got {self.synthetic_severities}")
        if self.out is None:
            self.out = str(Path("runs") / (f"{self.source}-quick" if self.quick else self.source))
        if self.num_studies is None:
            self.num_studies = 240 if self.quick else 1000
        if self.max_steps is None:
            self.max_steps = 40 if self.quick else 1200
        if self.quick:
            self.max_test_samples = self.max_test_samples or 24
            self.max_synthetic_studies = min(self.max_synthetic_studies or 8, 8)
        if self.quick:
            self.synthetic_severities = [3]
            self.num_resamples = min(self.num_resamples, 1000)


def build_or_reuse_dataset(args: BenchmarkArguments, out: Path) -> Any:
    """Builds the LRRG benchmark into `<out>/data` (the builder's cache makes a rerun nearly free)."""
    from lrrg.dataset_scripts import build_lrrg

    return build_lrrg(
        args.source, out / "data", root=args.root,
        num_studies=args.num_studies if args.source == "phantom" else None,
        num_proc=args.num_proc, seed=0, image_size=args.image_size,
        synthetic_severities=args.synthetic_severities, source_options=args.source_options,
        configs=("full",), print_summary=False,
    )  # fmt: skip


def _limit(split: Any, limit: int | None) -> Any:
    return split if limit is None or len(split) <= limit else split.select(range(limit))


def _synthetic_subset(split: Any, hq_limit: int | None) -> Any:
    """`test_synthetic` restricted to the degraded copies of the first `hq_limit` HQ test studies."""
    if hq_limit is None:
        return split
    keep = sorted(set(split["study_id"]))[:hq_limit]
    wanted = set(keep)
    return split.select([i for i, study in enumerate(split["study_id"]) if study in wanted])


def _has_accelerator() -> bool:
    """Pinned host memory only helps a copy to an accelerator (torch warns when there is none)."""
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def training_config(args: BenchmarkArguments, arm: str, seed: int, output_dir: Path, **overrides: Any):
    """The `DualLoopConfig` of one arm: same budget, data order and seed for every arm."""
    from lrrg.trainer import DualLoopConfig

    values = dict(
        output_dir=str(output_dir), robust_mode=arm, max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=min(20, args.max_steps // 10), weight_decay=0.0,
        logging_steps=max(1, min(10, args.max_steps // 20)), save_strategy="no", eval_strategy="no",
        report_to=[], seed=seed, data_seed=seed, inner_lr=args.inner_lr, outer_weight=args.outer_weight,
        consistency_weight=args.consistency_weight, bf16=args.bf16, dataloader_num_workers=0,
        disable_tqdm=False, use_cpu=False, dataloader_pin_memory=_has_accelerator(),
    )  # fmt: skip
    values.update(overrides)
    return DualLoopConfig(**values)


def train_arm(args: BenchmarkArguments, dataset: Any, arm: str, seed: int, model_dir: Path, **overrides: Any) -> dict:
    """Trains one arm (or reuses a finished one) and returns its training record (logs, timings)."""
    from lrrg.trainer import DataArguments, ModelArguments, run_training

    marker = model_dir / _DONE_MARKER
    if marker.exists():
        logger.info("reusing the trained %s model (seed %d) in %s", arm, seed, model_dir)
        return json.loads(marker.read_text())
    model_args = ModelArguments(model_config=args.model_config, vision=args.vision, text=args.text, lora_r=args.lora_r)
    # `dataset` names the built benchmark folder for the model card; the rows come from `dataset=` below.
    data_args = DataArguments(dataset=str(Path(args.out) / "data"), eval_split=None, degradation_seed=seed)
    config = training_config(args, arm, seed, model_dir, **overrides)
    started = time.perf_counter()
    result = run_training(model_args, data_args, config, dataset=dataset, compute_metrics=None)
    record = {
        "arm": arm, "seed": seed, "seconds": time.perf_counter() - started, "model_dir": str(model_dir),
        "train_metrics": result.train_metrics, "step_logs": result.step_logs, "overrides": overrides,
    }  # fmt: skip
    marker.write_text(json.dumps(record, indent=1, default=str))
    return record


def load_trained(model_dir: Path) -> tuple[Any, Any]:
    """Loads a trained arm with `from_pretrained` (the same way a user would)."""
    from transformers import AutoProcessor

    from lrrg.modeling_lrrg import LrrgForConditionalGeneration

    model = LrrgForConditionalGeneration.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    return model.eval(), processor


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded in results.json."""
    import datasets
    import numpy
    import torch
    import transformers

    import lrrg

    return {
        "lrrg": lrrg.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
        "datasets": datasets.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cuda": torch.cuda.is_available(), "threads": torch.get_num_threads(),
    }  # fmt: skip


def run_benchmark(args: BenchmarkArguments) -> dict[str, Any]:
    """Runs the whole experiment and writes report.md, results.json, plots and models under `args.out`.

    Returns:
        The results dictionary written to results.json.
    """
    import torch

    from .experiment_report import print_summary, write_outputs
    from .experiment_scoring import evaluate_arms
    from .experiment_tuning import tune_dual_loop

    torch.use_deterministic_algorithms(True, warn_only=True)
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    dataset = build_or_reuse_dataset(args, out)
    timings["build_s"] = time.perf_counter() - started
    tuned: dict[str, Any] = {}
    if args.tune:
        t0 = time.perf_counter()
        tuned = tune_dual_loop(args, dataset, out / "tuning")
        timings["tune_s"] = time.perf_counter() - t0
    training: dict[str, dict] = {}
    t0 = time.perf_counter()
    for seed in args.seeds:
        for arm in ARMS:
            overrides = tuned.get("best", {}) if arm == "dual_loop" else {}
            record = train_arm(args, dataset, arm, seed, out / "models" / f"{arm}-seed{seed}", **overrides)
            training[f"{arm}-seed{seed}"] = record
    timings["train_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_sets = {
        "test_hq": _limit(dataset["test_hq"], args.max_test_samples),
        "test_lq": _limit(dataset["test_lq"], args.max_test_samples),
        "test_synthetic": _synthetic_subset(dataset["test_synthetic"], args.max_synthetic_studies),
    }
    evaluation = evaluate_arms(args, test_sets, training, out)
    timings["evaluate_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    results = {
        "configuration": asdict(args), "environment": environment(), "timings": timings,
        "dataset": {name: len(split) for name, split in dataset.items()},
        "test_sizes": {name: len(split) for name, split in test_sets.items()},
        "tuning": tuned, "training": {k: _training_summary(v) for k, v in training.items()}, **evaluation,
    }  # fmt: skip
    write_outputs(results, training, out)
    print_summary(results, out)
    return results


def _training_summary(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "step_logs"} | {"num_logged_steps": len(record["step_logs"])}


__all__ = ["ARMS", "BenchmarkArguments", "build_or_reuse_dataset", "load_trained", "run_benchmark", "train_arm"]
