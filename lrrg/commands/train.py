"""`lrrg train`: train an LRRG model with the dual-loop trainer (every TrainingArguments flag works)."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "run"]

EXAMPLE = (
    "example: lrrg train --dataset runs/lrrg_phantoms --model-config tiny --output_dir runs/model "
    "--robust_mode dual_loop --max_steps 200"
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Registers `lrrg train`; the flags are parsed by HfArgumentParser inside the handler."""
    parser = subparsers.add_parser(
        "train",
        help="train a report generator (erm, erm_aug, dual_loop, dual_loop_exact)",
        description="Trains an LRRG model. Flags: model (--model_config/--model-config, --vision, --text, "
        "--lora_r), data (--dataset, --natural_lq, --degradation_kinds, ...), DualLoopConfig (--robust_mode, "
        "--inner_lr, --outer_weight, --consistency_weight, --cycle) and every TrainingArguments flag. "
        "Run `lrrg train --help-all` for the full list. " + EXAMPLE,
    )
    parser.add_argument("--help-all", action="store_true", help="list every flag (model, data, training)")
    parser.set_defaults(func=run, accepts_extra_args=True)
    return parser


def _normalise(argv: list[str]) -> list[str]:
    """Accepts dashed spellings of our own flags (--model-config) next to HfArgumentParser's underscores."""
    out = []
    for token in argv:
        if token.startswith("--") and "-" in token[2:].split("=")[0]:
            name, sep, value = token[2:].partition("=")
            token = "--" + name.replace("-", "_") + sep + value
        out.append(token)
    return out


def run(args: argparse.Namespace) -> int:
    """Parses the flags into (ModelArguments, DataArguments, DualLoopConfig), trains, prints a summary."""
    from transformers import HfArgumentParser

    from lrrg.trainer import DataArguments, DualLoopConfig, ModelArguments, run_training

    parser = HfArgumentParser((ModelArguments, DataArguments, DualLoopConfig), prog="lrrg train")
    if args.help_all:
        parser.print_help()
        return 0
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=_normalise(args.extra_args))
    result = run_training(model_args, data_args, training_args)
    summary = {
        "output_dir": result.output_dir,
        "robust_mode": training_args.robust_mode,
        "train": result.train_metrics,
        "eval": result.eval_metrics,
    }
    text = json.dumps(summary, indent=2, default=float)
    if result.trainer.args.should_save:
        with open(f"{result.output_dir}/train_summary.json", "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    print(text)
    return 0
