"""Seeded, vectorised bootstrap confidence intervals, HQ->LQ drops and a paired approximate-randomisation test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_ci", "bootstrap_weights", "drop_with_ci", "paired_randomization_test"]

Statistic = Callable[[np.ndarray], np.ndarray]


def _as_scores(scores: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of per-sample scores, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: no samples to resample")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} holds NaN or infinite values (index {int(np.flatnonzero(~np.isfinite(arr))[0])})"
        )
    return arr


def bootstrap_weights(n: int, num_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicities `(num_resamples, n)` of each sample in each bootstrap resample (each row sums to n)."""
    idx = rng.integers(0, n, size=(num_resamples, n))
    flat = idx + (np.arange(num_resamples)[:, None] * n)
    return np.bincount(flat.ravel(), minlength=num_resamples * n).reshape(num_resamples, n).astype(np.float64)


def _check_resampling(num_resamples: int, confidence: float) -> None:
    if int(num_resamples) < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def bootstrap_ci(
    scores: Sequence[float] | np.ndarray | None = None,
    num_resamples: int = 1000,
    seed: int = 0,
    statistic: Statistic | None = None,
    confidence: float = 0.95,
    num_samples: int | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap confidence interval of a corpus statistic (examples resampled with replacement).

    Args:
        scores: per-sample scores; the default statistic is their mean.
        num_resamples: bootstrap resamples (>= 1,000 for reported intervals).
        seed: seed of the owned random generator (same seed, same interval).
        statistic: optional `statistic(weights) -> values`, weights `(num_resamples, n)` sample multiplicities,
            returning `(num_resamples,)`: recomputes a corpus metric on each resample, e.g.
            `lrrg.metrics.chexbert.f1_statistic(per_example_counts, "macro")`. With `statistic`, `scores` may be
            None and `num_samples` gives n.
        confidence: the interval's coverage (0.95).
        num_samples: the number of examples when `scores` is None.

    Returns:
        `{"estimate", "low", "high", "std", "confidence", "num_resamples", "seed", "num_samples"}`.
    """
    _check_resampling(num_resamples, confidence)
    if statistic is None:
        arr = _as_scores(scores, "scores")
        n = arr.size

        def statistic(weights: np.ndarray) -> np.ndarray:
            return weights @ arr / n

    else:
        n = len(scores) if scores is not None else num_samples
        if not n:
            raise ValueError(
                "give `scores` or `num_samples` (the number of examples) with a custom statistic"
            )
    rng = np.random.default_rng(seed)
    estimate = float(np.asarray(statistic(np.ones((1, n))))[0])
    values = []
    for start in range(0, num_resamples, 250):  # bounded memory: 250 x n weights at a time
        values.append(np.asarray(statistic(bootstrap_weights(n, min(250, num_resamples - start), rng))))
    values = np.concatenate(values)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return {
        "estimate": estimate,
        "low": float(low),
        "high": float(high),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "confidence": confidence,
        "num_resamples": int(num_resamples),
        "seed": seed,
        "num_samples": int(n),
    }


def drop_with_ci(
    hq_scores: Sequence[float],
    lq_scores: Sequence[float],
    num_resamples: int = 1000,
    seed: int = 0,
    paired: bool = False,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The drop from HQ to LQ (absolute `mean(hq) - mean(lq)` and relative `drop / mean(hq)`) with bootstrap CIs.

    Args:
        hq_scores, lq_scores: per-sample scores on the HQ and LQ sets.
        paired: the sets are the same examples (e.g. HQ images and their synthetic degradations): resample the
            same indices on both sides; otherwise each side is resampled on its own.

    Returns:
        `hq_mean`, `lq_mean`, `abs_drop`, `abs_drop_low/high`, `rel_drop`, `rel_drop_low/high` (None when the HQ
        mean is 0), `num_hq`, `num_lq`, `paired`, `confidence`, `num_resamples`, `seed`.
    """
    _check_resampling(num_resamples, confidence)
    hq, lq = _as_scores(hq_scores, "hq_scores"), _as_scores(lq_scores, "lq_scores")
    if paired and hq.size != lq.size:
        raise ValueError(f"paired=True needs equally many HQ and LQ scores, got {hq.size} and {lq.size}")
    rng = np.random.default_rng(seed)
    w_hq = bootstrap_weights(hq.size, num_resamples, rng)
    w_lq = w_hq if paired else bootstrap_weights(lq.size, num_resamples, rng)
    hq_means, lq_means = w_hq @ hq / hq.size, w_lq @ lq / lq.size
    abs_drops = hq_means - lq_means
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_drops = abs_drops / hq_means
    alpha = (1 - confidence) / 2
    q = [alpha, 1 - alpha]
    hq_mean, lq_mean = float(hq.mean()), float(lq.mean())
    abs_low, abs_high = np.quantile(abs_drops, q)
    rel_ok = np.isfinite(rel_drops)
    rel = (hq_mean - lq_mean) / hq_mean if hq_mean else None
    rel_low, rel_high = (
        np.quantile(rel_drops[rel_ok], q) if rel is not None and rel_ok.any() else (None, None)
    )
    return {
        "hq_mean": hq_mean,
        "lq_mean": lq_mean,
        "abs_drop": hq_mean - lq_mean,
        "abs_drop_low": float(abs_low),
        "abs_drop_high": float(abs_high),
        "rel_drop": rel,
        "rel_drop_low": None if rel_low is None else float(rel_low),
        "rel_drop_high": None if rel_high is None else float(rel_high),
        "num_hq": int(hq.size),
        "num_lq": int(lq.size),
        "paired": paired,
        "confidence": confidence,
        "num_resamples": int(num_resamples),
        "seed": seed,
    }


def paired_randomization_test(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    num_permutations: int = 10000,
    seed: int = 0,
    alternative: str = "two-sided",
) -> dict[str, Any]:
    """Paired approximate randomisation test of `mean(a) - mean(b)`: each pair's scores are swapped at random.

    Args:
        scores_a, scores_b: per-sample scores of two systems on the same examples, same order.
        num_permutations: random swaps (the p-value is `(count + 1) / (num_permutations + 1)`).
        seed: seed of the owned random generator.
        alternative: "two-sided", "greater" (a better than b) or "less".

    Returns:
        `{"difference", "p_value", "num_permutations", "alternative", "seed", "num_samples"}`.
    """
    a, b = _as_scores(scores_a, "scores_a"), _as_scores(scores_b, "scores_b")
    if a.size != b.size:
        raise ValueError(f"a paired test needs equally many scores, got {a.size} and {b.size}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative={alternative!r} is not 'two-sided', 'greater' or 'less'")
    diff = a - b
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    count = 0
    for start in range(0, num_permutations, 500):
        signs = rng.integers(0, 2, size=(min(500, num_permutations - start), a.size)) * 2 - 1
        null = signs @ diff / a.size
        if alternative == "two-sided":
            count += int((np.abs(null) >= abs(observed) - 1e-12).sum())
        elif alternative == "greater":
            count += int((null >= observed - 1e-12).sum())
        else:
            count += int((null <= observed + 1e-12).sum())
    return {
        "difference": observed,
        "p_value": (count + 1) / (num_permutations + 1),
        "num_permutations": int(num_permutations),
        "alternative": alternative,
        "seed": seed,
        "num_samples": int(a.size),
    }
