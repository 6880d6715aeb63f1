"""Evaluation of the main job: generate reports per test stratum, label them, score with CIs and tests."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS

logger = logging.getLogger(__name__)

# Test strata of the LRRG benchmark that the main job scores, in report order.
STRATA = ("test_hq", "test_lq", "test_synthetic")


def reference_reports(split: Any) -> list[str]:
    """The reference report of every row (`findings` + `impression` in the model's target format)."""
    from lrrg.modeling_lrrg import format_report

    columns = split.select_columns(["findings", "impression"])
    return [format_report(row["findings"], row["impression"]) for row in columns]


def generate_split_reports(
    model: Any,
    processor: Any,
    split: Any,
    cache_file: Path,
    batch_size: int = 32,
    max_new_tokens: int = 96,
    progress: Any = None,
) -> list[str]:
    """Generates one report per row of `split`, appending finished batches to `cache_file` (JSONL).

    A rerun (or a resumed interrupted run) reads the finished rows back and generates only the rest, so no
    finished work is lost. A row whose image cannot be processed gets an empty report and a logged warning.

    Returns:
        The generated reports, in row order.
    """
    import torch

    done: list[str] = []
    if cache_file.exists():
        done = [json.loads(line)["report"] for line in cache_file.read_text(encoding="utf-8").splitlines() if line]
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    with cache_file.open("a", encoding="utf-8") as sink, torch.inference_mode():
        for start in range(len(done), len(split), batch_size):
            rows = split.select(range(start, min(start + batch_size, len(split))))
            reports = _generate_batch(model, processor, rows["image"], max_new_tokens)
            for report in reports:
                sink.write(json.dumps({"report": report}) + "\n")
            sink.flush()
            done.extend(reports)
            if progress is not None:
                progress(len(reports))
    return done


def _generate_batch(model: Any, processor: Any, images: list, max_new_tokens: int) -> list[str]:
    try:
        inputs = processor(images=images, return_tensors="pt")
    except (ValueError, OSError) as error:  # one bad image must not cost the whole batch
        if len(images) == 1:
            logger.warning("cannot generate for an image (%s); its report is left empty", error)
            return [""]
        return [r for image in images for r in _generate_batch(model, processor, [image], max_new_tokens)]
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
    return [text.strip() for text in processor.batch_decode(output, skip_special_tokens=True)]


def headline_observations(reference_labels: Sequence[dict[str, int | None]]) -> list[str]:
    """Observations that have at least one positive reference: macro F1 is averaged over these.

    On phantoms these are the findings the generator draws; observations with no positive reference have
    an undefined F1 and would only dilute the average.
    """
    return [o for o in CHEXPERT_OBSERVATIONS if o != "No Finding" and any(r.get(o) == 1 for r in reference_labels)]


class StratumScores:
    """Per-example clinical counts and corpus scores of one system on one set of reports.

    Args:
        predictions, references: generated and reference reports, same order.
        observations: the observations of the headline macro F1.
        labeller: label backend of `lrrg.metrics.label_reports`.
        reference_labels: precomputed labels of `references` (saves relabelling the same references).
    """

    def __init__(self, predictions: Sequence[str], references: Sequence[str], observations: Sequence[str],
                 labeller: str = "rules", reference_labels: Sequence[dict] | None = None) -> None:
        from lrrg.metrics import label_reports
        from lrrg.metrics.chexbert.scoring import clinical_efficacy

        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        self.observations = list(observations)
        hyp = label_reports(list(predictions), backend=labeller)
        ref = list(reference_labels) if reference_labels is not None else label_reports(list(references), backend=labeller)
        self.clinical = clinical_efficacy(hyp, ref, return_per_example=True)
        self.counts = self.clinical.pop("per_example")
        self.predictions, self.references = list(predictions), list(references)

    def __len__(self) -> int:
        return len(self.predictions)

    def macro_f1_statistic(self, rows: np.ndarray | None = None):
        """Bootstrap statistic of the headline macro F1 (optionally on a subset of rows)."""
        from lrrg.metrics.chexbert.scoring import f1_statistic

        counts = self.counts if rows is None else {k: np.asarray(v)[rows] for k, v in self.counts.items()}
        return f1_statistic(counts, "macro", self.observations)

    def macro_f1(self, rows: np.ndarray | None = None) -> float:
        n = len(self) if rows is None else len(rows)
        return float(self.macro_f1_statistic(rows)(np.ones((1, n)))[0])

    def example_f1(self) -> np.ndarray:
        """Per-example F1 of the positive label sets (the paired test's per-sample score)."""
        return np.asarray(self.counts["example_f1"], dtype=np.float64)

    def nlg(self, meteor: bool = False) -> dict[str, Any]:
        """Corpus NLG scores (R2Gen convention) of this stratum."""
        from lrrg.metrics.nlg import compute_nlg

        scores = compute_nlg(self.predictions, self.references, meteor=meteor)
        return {k: v for k, v in scores.items() if k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")}


def _weights(n: int, num_resamples: int, rng: np.random.Generator) -> np.ndarray:
    from lrrg.metrics.robustness.stats import bootstrap_weights

    return bootstrap_weights(n, num_resamples, rng)


def _interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def macro_f1_ci(per_seed: Sequence[StratumScores], num_resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """Seed-averaged macro F1 with a 95% bootstrap CI over test examples (same resample for every seed)."""
    n = len(per_seed[0])
    rng = np.random.default_rng(seed)
    weights = _weights(n, num_resamples, rng)
    values = np.mean([scores.macro_f1_statistic()(weights) for scores in per_seed], axis=0)
    low, high = _interval(values)
    return {"estimate": float(np.mean([s.macro_f1() for s in per_seed])), "low": low, "high": high}


def drop_ci(hq: Sequence[StratumScores], lq: Sequence[StratumScores], num_resamples: int = 1000, seed: int = 0) -> dict:
    """HQ -> LQ drop of the seed-averaged macro F1, with a 95% bootstrap CI (HQ and LQ resampled separately)."""
    rng = np.random.default_rng(seed)
    w_hq, w_lq = _weights(len(hq[0]), num_resamples, rng), _weights(len(lq[0]), num_resamples, rng)
    drops = np.mean([h.macro_f1_statistic()(w_hq) - q.macro_f1_statistic()(w_lq) for h, q in zip(hq, lq)], axis=0)
    estimate = float(np.mean([h.macro_f1() - q.macro_f1() for h, q in zip(hq, lq)]))
    low, high = _interval(drops)
    return {"drop": estimate, "low": low, "high": high}


def drop_difference_ci(
    hq_a: Sequence[StratumScores], lq_a: Sequence[StratumScores],
    hq_b: Sequence[StratumScores], lq_b: Sequence[StratumScores],
    num_resamples: int = 1000, seed: int = 0,
) -> dict[str, float]:
    """Difference of HQ->LQ drops, system A minus system B, with a paired 95% bootstrap CI.

    Both systems are scored on the same test examples, so each resample uses the same rows for both.
    A negative difference means A loses less accuracy on low-quality images than B.
    """
    rng = np.random.default_rng(seed)
    w_hq, w_lq = _weights(len(hq_a[0]), num_resamples, rng), _weights(len(lq_a[0]), num_resamples, rng)

    def drops(hq, lq):
        return np.mean([h.macro_f1_statistic()(w_hq) - q.macro_f1_statistic()(w_lq) for h, q in zip(hq, lq)], axis=0)

    differences = drops(hq_a, lq_a) - drops(hq_b, lq_b)
    estimate = float(np.mean([h.macro_f1() - q.macro_f1() for h, q in zip(hq_a, lq_a)])
                     - np.mean([h.macro_f1() - q.macro_f1() for h, q in zip(hq_b, lq_b)]))
    low, high = _interval(differences)
    ratio = None
    drop_b = float(np.mean([h.macro_f1() - q.macro_f1() for h, q in zip(hq_b, lq_b)]))
    if drop_b > 1e-9:
        ratio = (estimate + drop_b) / drop_b
    return {"difference": estimate, "low": low, "high": high, "excludes_zero": bool(low > 0 or high < 0),
            "drop_ratio": ratio}


def paired_test(a: Sequence[StratumScores], b: Sequence[StratumScores], seed: int = 0) -> dict[str, Any]:
    """Paired approximate-randomisation test of per-example F1 (seed-averaged), system A vs system B."""
    from lrrg.metrics.robustness import paired_randomization_test

    scores_a = np.mean([s.example_f1() for s in a], axis=0)
    scores_b = np.mean([s.example_f1() for s in b], axis=0)
    return paired_randomization_test(scores_a, scores_b, num_permutations=10000, seed=seed)


def breakdown_rows(split: Any) -> dict[tuple[str, int], np.ndarray]:
    """Row indices of `test_synthetic` per (degradation kind, severity)."""
    names = split.features["degradation"].names if hasattr(split.features["degradation"], "names") else None
    kinds = [names[k] if names else k for k in split["degradation"]]
    groups: dict[tuple[str, int], list[int]] = {}
    for index, (kind, severity) in enumerate(zip(kinds, split["severity"])):
        groups.setdefault((str(kind), int(severity)), []).append(index)
    return {key: np.asarray(rows) for key, rows in sorted(groups.items())}


__all__ = [
    "STRATA",
    "StratumScores",
    "breakdown_rows",
    "drop_ci",
    "drop_difference_ci",
    "generate_split_reports",
    "headline_observations",
    "macro_f1_ci",
    "paired_test",
    "reference_reports",
]
