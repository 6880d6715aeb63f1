"""`lrrg benchmark`: the paper's experiment end to end (build, train three arms, evaluate by quality, report)."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields


def _defaults() -> dict:
    """`BenchmarkArguments`' defaults: the one place they are set (the module imports nothing heavy)."""
    from lrrg.experiment import BenchmarkArguments

    values = {}
    for f in fields(BenchmarkArguments):
        if f.default is not MISSING:
            values[f.name] = f.default
        elif f.default_factory is not MISSING:
            values[f.name] = f.default_factory()
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    default = _defaults()
    parser = subparsers.add_parser(
        "benchmark",
        help="build the LRRG benchmark, train erm / erm_aug / dual_loop, evaluate on HQ / LQ / synthetic LQ",
        description="Runs the experiment end to end and writes report.md, results.json, plots and models. "
        "Default: the built-in phantom source, the tiny model, one seed (about 10 minutes on 2 CPU cores).",
    )
    parser.add_argument("--source", default="phantom", choices=["phantom", "mimic-cxr", "iu-xray", "folder"])
    parser.add_argument("--root", help="the source's folder (MIMIC-CXR-JPG, IU X-ray, image folder)")
    parser.add_argument("--out", help="run folder (default runs/<source>[-quick])")
    parser.add_argument("--model-config", default="tiny", help="tiny, small, or a saved LRRG model / config path")
    parser.add_argument("--vision", help="pretrained vision backbone (local path or Hub id)")
    parser.add_argument("--text", help="pretrained causal LM (local path or Hub id)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (e.g. 0 1 2)")
    parser.add_argument("--quick", action="store_true", help="a small end-to-end run (about 2 minutes)")
    parser.add_argument("--num-studies", type=int, help="phantom studies to build (default 1000, quick 240)")
    parser.add_argument("--image-size", type=int, default=default["image_size"], help="phantom image side in pixels")
    parser.add_argument("--max-steps", type=int, help="optimizer steps per arm (default 1200, quick 40)")
    parser.add_argument("--batch-size", type=int, default=default["batch_size"], help="paired examples per step")
    parser.add_argument("--learning-rate", type=float, default=default["learning_rate"])
    parser.add_argument("--inner-lr", type=float, default=default["inner_lr"], help="dual_loop's α (see docs/training.md)")
    parser.add_argument("--outer-weight", type=float, default=default["outer_weight"], help="dual_loop's β")
    parser.add_argument("--consistency-weight", type=float, default=default["consistency_weight"], help="dual_loop's λ")
    parser.add_argument("--tune", action="store_true", help="pick dual_loop's α on the validation split first")
    parser.add_argument("--lora-r", type=int, default=default["lora_r"], help="LoRA rank for pretrained LMs (0: full fine-tuning)")
    parser.add_argument("--bf16", action="store_true", help="bf16 mixed precision (GPU)")
    parser.add_argument("--num-proc", type=int, default=default["num_proc"], help="worker processes for the dataset build")
    parser.add_argument("--max-test-samples", type=int, help="cap on HQ / LQ test studies scored")
    parser.add_argument("--max-synthetic-studies", type=int, default=default["max_synthetic_studies"],
                        help="HQ test studies whose degraded copies are scored (0: all)")
    parser.add_argument("--synthetic-severities", type=int, nargs="+", default=default["synthetic_severities"])
    parser.add_argument("--images-dir", help="image folder of the IU X-ray source")
    parser.add_argument("--table", help="CSV / JSONL table of the folder source")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from lrrg.experiment import BenchmarkArguments, run_benchmark

    source_options = {k: v for k, v in (("images_dir", args.images_dir), ("table", args.table)) if v}
    try:
        config = BenchmarkArguments(
            source=args.source, root=args.root, out=args.out, model_config=args.model_config, vision=args.vision,
            text=args.text, seeds=args.seeds, quick=args.quick, num_studies=args.num_studies,
            image_size=args.image_size, max_steps=args.max_steps, batch_size=args.batch_size,
            learning_rate=args.learning_rate, inner_lr=args.inner_lr, outer_weight=args.outer_weight,
            consistency_weight=args.consistency_weight, tune=args.tune, lora_r=args.lora_r, bf16=args.bf16,
            num_proc=args.num_proc, max_test_samples=args.max_test_samples,
            max_synthetic_studies=args.max_synthetic_studies or None,
            synthetic_severities=args.synthetic_severities, source_options=source_options,
        )  # fmt: skip
    except ValueError as error:
        raise SystemExit(f"lrrg benchmark: {error}") from error
    run_benchmark(config)
    return 0
