"""Clinical efficacy: precision / recall / F1 of CheXpert labels of generated vs reference reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS, COMMON_5_OBSERVATIONS

__all__ = [
    "UNCERTAIN_POLICIES",
    "binarize_labels",
    "clinical_efficacy",
    "f1_from_counts",
    "f1_statistic",
    "per_example_counts",
]

# How an uncertain label (-1) counts: "negative" (the F1-CheXbert / RadEval convention: positives only) or
# "positive" (U-ones). Blank and negative labels always count as not positive.
UNCERTAIN_POLICIES = ("negative", "positive")


def binarize_labels(rows: Sequence[Mapping[str, int | None]], uncertain: str = "negative") -> np.ndarray:
    """Turns label rows (observation -> 1 / 0 / -1 / None) into a boolean matrix `(num_reports, 14)`."""
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain={uncertain!r} is not one of {UNCERTAIN_POLICIES}")
    positive = {1, -1} if uncertain == "positive" else {1}
    out = np.zeros((len(rows), len(CHEXPERT_OBSERVATIONS)), dtype=bool)
    for i, row in enumerate(rows):
        for j, name in enumerate(CHEXPERT_OBSERVATIONS):
            out[i, j] = row.get(name) in positive
    return out


def per_example_counts(hyp: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example, per-observation true positives, false positives and false negatives (int arrays `(n, 14)`)."""
    return {
        "tp": (hyp & ref).astype(np.int64),
        "fp": (hyp & ~ref).astype(np.int64),
        "fn": (~hyp & ref).astype(np.int64),
    }


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, average: str = "macro") -> np.ndarray:
    """F1 from summed counts over the last axis's classes (`tp` etc. shaped `(..., classes)`).

    A class with no positives in either labelling scores 0 (scikit-learn's `zero_division=0`).
    """
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    if average == "micro":
        tp, fp, fn = tp.sum(-1), fp.sum(-1), fn.sum(-1)
        denom = 2 * tp + fp + fn
        return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    if average == "macro":
        denom = 2 * tp + fp + fn
        return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0).mean(-1)
    raise ValueError(f"average={average!r} is not 'micro' or 'macro'")


def f1_statistic(
    counts: Mapping[str, np.ndarray],
    average: str = "macro",
    observations: Sequence[str] = CHEXPERT_OBSERVATIONS,
) -> Callable[[np.ndarray], np.ndarray]:
    """A bootstrap statistic: corpus F1 recomputed from resampled examples.

    Args:
        counts: `per_example_counts` output (or `clinical_efficacy(..., return_per_example=True)["per_example"]`).
        average: "macro" or "micro".
        observations: the observations to average over (e.g. `COMMON_5_OBSERVATIONS`).

    Returns:
        `statistic(weights)` mapping resample multiplicities `(num_resamples, n)` to F1 values `(num_resamples,)`,
        as `lrrg.metrics.robustness.bootstrap_ci(..., statistic=...)` expects.
    """
    cols = [CHEXPERT_OBSERVATIONS.index(o) for o in observations]
    tp, fp, fn = (np.asarray(counts[k])[:, cols].astype(np.float64) for k in ("tp", "fp", "fn"))

    def statistic(weights: np.ndarray) -> np.ndarray:
        return f1_from_counts(weights @ tp, weights @ fp, weights @ fn, average=average)

    return statistic


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    tp, fp, fn = float(tp), float(fp), float(fn)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return p, r, f


def clinical_efficacy(
    hyp_labels: Sequence[Mapping[str, int | None]],
    ref_labels: Sequence[Mapping[str, int | None]],
    uncertain: str = "negative",
    return_per_example: bool = False,
) -> dict[str, Any]:
    """Clinical-efficacy scores from labels of generated (`hyp`) and reference reports.

    Args:
        hyp_labels: label rows of the generated reports (e.g. from `lrrg.metrics.label_reports`).
        ref_labels: label rows of the reference reports, same length.
        uncertain: "negative" (default; positives only, as F1-CheXbert) or "positive" (uncertain counts as positive).
        return_per_example: add `per_example` with `tp`, `fp`, `fn` `(n, 14)` arrays, `example_f1` `(n,)` and
            `exact_match` `(n,)`, for bootstrapping corpus metrics (see `f1_statistic`).

    Returns:
        `chexbert_14_micro_f1`, `chexbert_14_macro_f1`, `chexbert_5_micro_f1`, `chexbert_5_macro_f1`,
        micro precision / recall over 14 and 5, `example_precision`, `example_recall`, `example_f1`
        (per-report set overlap, averaged; two empty sets score 1), `accuracy` (exact match of the 14 binary
        labels), `per_observation` (name -> precision, recall, f1, support), `uncertain_policy`, `num_examples`.
    """
    if len(hyp_labels) != len(ref_labels):
        raise ValueError(f"got {len(hyp_labels)} hypothesis label rows but {len(ref_labels)} reference rows")
    if not len(hyp_labels):
        raise ValueError("no label rows to score")
    hyp, ref = binarize_labels(hyp_labels, uncertain), binarize_labels(ref_labels, uncertain)
    counts = per_example_counts(hyp, ref)
    tp, fp, fn = (counts[k].sum(0) for k in ("tp", "fp", "fn"))
    five = [CHEXPERT_OBSERVATIONS.index(o) for o in COMMON_5_OBSERVATIONS]
    result: dict[str, Any] = {}
    for tag, cols in (("14", slice(None)), ("5", five)):
        p, r, f = _prf(tp[cols].sum(), fp[cols].sum(), fn[cols].sum())
        result[f"chexbert_{tag}_micro_precision"] = p
        result[f"chexbert_{tag}_micro_recall"] = r
        result[f"chexbert_{tag}_micro_f1"] = f
        result[f"chexbert_{tag}_macro_f1"] = float(f1_from_counts(tp[cols], fp[cols], fn[cols], "macro"))
    inter = (hyp & ref).sum(1)
    n_hyp, n_ref = hyp.sum(1), ref.sum(1)
    ex_p = np.where(n_hyp > 0, inter / np.maximum(n_hyp, 1), (n_ref == 0).astype(float))
    ex_r = np.where(n_ref > 0, inter / np.maximum(n_ref, 1), (n_hyp == 0).astype(float))
    ex_f = np.where(n_hyp + n_ref > 0, 2 * inter / np.maximum(n_hyp + n_ref, 1), 1.0)
    exact = (hyp == ref).all(1)
    result.update(
        example_precision=float(ex_p.mean()),
        example_recall=float(ex_r.mean()),
        example_f1=float(ex_f.mean()),
        accuracy=float(exact.mean()),
    )
    result["per_observation"] = {
        name: dict(zip(("precision", "recall", "f1"), _prf(tp[j], fp[j], fn[j])), support=int(tp[j] + fn[j]))
        for j, name in enumerate(CHEXPERT_OBSERVATIONS)
    }
    result["uncertain_policy"] = uncertain
    result["num_examples"] = len(hyp_labels)
    if return_per_example:
        result["per_example"] = {**counts, "example_f1": ex_f, "exact_match": exact.astype(float)}
    return result
