"""Cost of the dual-loop update vs `erm_aug` on the same paired batches, and gradient agreement over training.

Prints ONE JSON object: time per optimizer step and peak memory of `dual_loop` and `dual_loop_exact`
divided by `erm_aug` (goals: time <= 1.15, memory <= 1.3 for `dual_loop`), measured in separate
processes on identical phantom batches; plus the cosine between the HQ and LQ gradients over a short
training run of `erm_aug` vs `dual_loop` (plot under benchmarks/results/).

Usage: python benchmarks/train_step.py [--quick] [--model-config tiny|small] [--device cpu|cuda] [--bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("erm_aug", "dual_loop", "dual_loop_exact")


def _phantom_dataset(num: int, size: int, seed: int):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value

    from lrrg.dataset_scripts import iter_phantom_studies

    studies = list(iter_phantom_studies(num, seed=seed, size=size))
    features = Features({"image": Image(), "findings": Value("string"), "impression": Value("string"),
                         "quality_label": ClassLabel(names=["high", "low"])})  # fmt: skip
    data = {"image": [s.image for s in studies], "findings": [s.findings for s in studies],
            "impression": [s.impression for s in studies], "quality_label": [0] * len(studies)}  # fmt: skip
    return DatasetDict(train=Dataset.from_dict(data, features=features))


def _trainer(mode: str, options, dataset, output_dir: str, **overrides):
    from transformers import PrinterCallback

    from lrrg.modeling_lrrg.presets import build_model_and_processor
    from lrrg.trainer import DualLoopConfig, DualLoopTrainer, PairedQualityCollator

    train = dataset["train"]
    corpus = [f + " " + i for f, i in zip(train["findings"], train["impression"])]
    model, processor = build_model_and_processor(options.model_config, corpus=corpus, seed=0)
    settings = dict(
        output_dir=output_dir, robust_mode=mode, per_device_train_batch_size=options.batch_size,
        learning_rate=1e-3, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        use_cpu=options.device == "cpu", bf16=options.bf16, seed=0, inner_lr=0.01, outer_weight=1.0,
        dataloader_num_workers=0,
    )  # fmt: skip
    settings.update(overrides)
    collator = PairedQualityCollator.for_dataset(processor, train)
    args = DualLoopConfig(**settings)
    trainer = DualLoopTrainer(model=model, args=args, train_dataset=train, data_collator=collator)
    trainer.remove_callback(PrinterCallback)  # stdout carries only the JSON result
    return trainer, collator


def worker(options) -> dict:
    """Times `options.worker` mode on fixed pre-collated batches; returns per-step time and peak memory."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(options.threads)
    dataset = _phantom_dataset(options.batch_size * 4, options.image_size, seed=1)
    trainer, collator = _trainer(options.worker, options, dataset, str(RESULTS / "train_step_tmp"))
    rows = dataset["train"]
    batches = [collator([rows[i * options.batch_size + j] for j in range(options.batch_size)]) for i in range(4)]
    trainer.create_optimizer_and_scheduler(num_training_steps=options.steps + options.warmup)
    model, optimizer = trainer.model, trainer.optimizer
    model, optimizer = trainer.accelerator.prepare(model, optimizer)
    trainer.model_wrapped, trainer.optimizer = model, optimizer
    cuda = options.device == "cuda"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for step in range(options.warmup + options.steps):
        if cuda and step == options.warmup:
            torch.cuda.reset_peak_memory_stats()
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.state.global_step = step
        trainer.training_step(model, batches[step % len(batches)])
        optimizer.step()
        optimizer.zero_grad()
        if cuda:
            torch.cuda.synchronize()
        if step >= options.warmup:
            times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() if cuda
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024)  # fmt: skip
    return {"mode": options.worker, "step_s_median": statistics.median(times), "step_s_mean": statistics.fmean(times),
            "peak_bytes": int(peak), "memory_measure": "cuda max_memory_allocated" if cuda else
            "CPU peak RSS growth during training (ru_maxrss)"}  # fmt: skip


def _run_worker(mode: str, options) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--model-config", options.model_config,
               "--batch-size", str(options.batch_size), "--steps", str(options.steps), "--warmup",
               str(options.warmup), "--device", options.device, "--image-size", str(options.image_size),
               "--threads", str(options.threads)] + (["--bf16"] if options.bf16 else [])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cosine_over_training(options) -> dict:
    """Trains erm_aug (tracking the cosine) and dual_loop on the same phantom data; returns + plots the curves."""
    import torch

    torch.set_num_threads(options.threads)
    dataset = _phantom_dataset(options.train_samples, options.image_size, seed=2)
    curves = {}
    for mode in ("erm_aug", "dual_loop"):
        trainer, _ = _trainer(mode, options, dataset, str(RESULTS / "train_step_tmp"), max_steps=options.train_steps,
                              track_grad_cosine=True, learning_rate=5e-4)  # fmt: skip
        trainer.train()
        curves[mode] = [entry["grad_cosine"] for entry in trainer.state.log_history if "grad_cosine" in entry]
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot = RESULTS / "train_step_grad_cosine.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for mode, values in curves.items():
        axis.plot(range(1, len(values) + 1), values, label=mode)
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("cos(g_hq, g_lq)")
    axis.set_title(f"Gradient agreement between quality regimes ({options.model_config}, phantoms)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(plot, dpi=120)
    half = lambda v: v[len(v) // 2 :]  # noqa: E731
    return {
        "steps": options.train_steps,
        "erm_aug_mean_second_half": statistics.fmean(half(curves["erm_aug"])),
        "dual_loop_mean_second_half": statistics.fmean(half(curves["dual_loop"])),
        "curves": {k: [round(x, 4) for x in v] for k, v in curves.items()},
        "plot": str(plot.relative_to(Path.cwd())) if plot.is_relative_to(Path.cwd()) else str(plot),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, tiny model")
    parser.add_argument("--model-config", default="tiny")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument("--train-samples", type=int, default=64)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        print(json.dumps(worker(options)))
        return
    if options.quick:
        options.steps, options.warmup, options.train_steps, options.train_samples = 6, 2, 12, 24
    started = time.perf_counter()
    runs = {mode: _run_worker(mode, options) for mode in MODES}
    base = runs["erm_aug"]
    ratios = {
        f"{mode}_over_erm_aug": {
            "time_per_step": round(runs[mode]["step_s_median"] / base["step_s_median"], 3),
            "peak_memory": round(runs[mode]["peak_bytes"] / max(base["peak_bytes"], 1), 3),
        }
        for mode in ("dual_loop", "dual_loop_exact")
    }
    result = {
        "benchmark": "train_step",
        "settings": {k: getattr(options, k) for k in ("model_config", "batch_size", "image_size", "steps", "warmup",
                                                      "device", "bf16", "threads", "quick")},  # fmt: skip
        "ratios": ratios,
        "goals": {"dual_loop_time_per_step": 1.15, "dual_loop_peak_memory": 1.3},
        "goals_met": {
            "time": ratios["dual_loop_over_erm_aug"]["time_per_step"] <= 1.15,
            "memory": ratios["dual_loop_over_erm_aug"]["peak_memory"] <= 1.3,
        },
        "runs": runs,
        "grad_cosine": cosine_over_training(options),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
