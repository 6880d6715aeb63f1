"""`lrrg benchmark --tune`: pick dual_loop's inner step on the VALIDATION split only (never on test)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# α values tried (β = outer_weight as given); each grid point costs one training run of the arm's budget.
# α >= 0.5 (virtual step γ = 2αβ/(1+β) >= 0.5) overshoots on the tiny model: its loss stalls near 3.8 vs 0.7.
INNER_LR_GRID = (0.02, 0.05, 0.1)
_VALIDATION_SEVERITY = 3


def validation_sets(dataset: Any, limit: int | None, seed: int = 0) -> dict[str, Any]:
    """HQ validation studies and, for LQ, each of them degraded once (kind drawn per row, severity 3)."""
    from lrrg.dataset_scripts.degradations import DEGRADATION_KINDS, degrade

    split = dataset["validation"]
    names = split.features["quality_label"].names
    high = [i for i, label in enumerate(split["quality_label"]) if names[label] == "high"]
    hq = split.select(high[:limit] if limit else high)
    rng = np.random.default_rng(seed)
    kinds = [str(k) for k in rng.choice(list(DEGRADATION_KINDS), size=len(hq))]

    def degrade_row(row: dict, index: int) -> dict:
        return {"image": degrade(row["image"], kinds[index], _VALIDATION_SEVERITY, seed=seed * 100_003 + index)}

    lq = hq.map(degrade_row, with_indices=True, desc="degrading validation images")
    return {"hq": hq, "lq": lq}


def tune_dual_loop(args: Any, dataset: Any, out: Path) -> dict[str, Any]:
    """Trains dual_loop for each α of the grid (first seed) and keeps the best on validation.

    Criterion: the mean of HQ and LQ validation macro F1 (accuracy that holds under low quality), ties
    broken by the smaller HQ->LQ drop.

    Returns:
        `{"grid": [...], "best": {"inner_lr": ...}, "criterion": ...}`.
    """
    from .experiment import load_trained, train_arm
    from .experiment_eval import (
        StratumScores,
        generate_split_reports,
        headline_observations,
        reference_reports,
    )

    summary_file = out / "tuning.json"
    if summary_file.exists():
        return json.loads(summary_file.read_text())
    sets = validation_sets(dataset, args.max_test_samples or 120)
    references = reference_reports(sets["hq"])
    from lrrg.metrics import label_reports

    reference_labels = label_reports(references)
    observations = headline_observations(reference_labels)
    seed = args.seeds[0]
    grid = []
    for inner_lr in INNER_LR_GRID:
        model_dir = out / f"dual_loop-inner{inner_lr}-seed{seed}"
        train_arm(args, dataset, "dual_loop", seed, model_dir, inner_lr=inner_lr)
        model, processor = load_trained(model_dir)
        point: dict[str, Any] = {"inner_lr": inner_lr}
        for name, split in sets.items():
            reports = generate_split_reports(model, processor, split, model_dir / f"validation-{name}.jsonl",
                                             max_new_tokens=args.max_new_tokens)
            scores = StratumScores(reports, references, observations, reference_labels=reference_labels)
            point[f"{name}_macro_f1"] = scores.macro_f1()
        point["criterion"] = (point["hq_macro_f1"] + point["lq_macro_f1"]) / 2
        point["drop"] = point["hq_macro_f1"] - point["lq_macro_f1"]
        logger.info("tuning: %s", point)
        grid.append(point)
    best = max(grid, key=lambda p: (round(p["criterion"], 4), -p["drop"]))
    result = {"grid": grid, "best": {"inner_lr": best["inner_lr"]},
              "criterion": "mean of HQ and LQ validation macro F1; ties -> smaller drop"}
    summary_file.parent.mkdir(parents=True, exist_ok=True)
    summary_file.write_text(json.dumps(result, indent=1))
    return result


__all__ = ["INNER_LR_GRID", "tune_dual_loop", "validation_sets"]
