"""Per-sample metric values from generated and reference reports, for records that carry text, not scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PER_SAMPLE_METRICS", "add_per_sample_scores", "per_sample_scores"]

_NLG = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")
_CLINICAL = {"example_f1": "example_f1", "exact_match": "exact_match"}
PER_SAMPLE_METRICS: tuple[str, ...] = (*_NLG, *_CLINICAL)


def per_sample_scores(
    predictions: Sequence[str],
    references: Sequence[str | Sequence[str]],
    metrics: Sequence[str] = ("bleu_4", "rouge_l", "cider", "example_f1"),
    labeller: str = "rules",
) -> dict[str, list[float]]:
    """Per-example values of NLG and clinical metrics for one corpus (one system on one test set).

    BLEU values are pycocoevalcap's sentence-level ones and CIDEr-D takes its IDF from this corpus's
    references, so score each (system, test set) as one corpus. `example_f1` and `exact_match` come from the
    CheXpert labels (`labeller`: "rules" or "chexbert").

    Args:
        predictions: generated reports. references: one reference (or a list) per prediction.
        metrics: names from `PER_SAMPLE_METRICS`.
        labeller: the CheXpert labeller of the clinical metrics.

    Returns:
        metric name -> list of per-example floats (same order as `predictions`).
    """
    unknown = [m for m in metrics if m not in PER_SAMPLE_METRICS]
    if unknown:
        raise ValueError(f"no per-sample values for {unknown}; choose from {PER_SAMPLE_METRICS}")
    out: dict[str, list[float]] = {}
    nlg = [m for m in metrics if m in _NLG]
    if nlg:
        from lrrg.metrics.nlg import compute_nlg

        result = compute_nlg(predictions, references, meteor="meteor" in nlg, return_per_example=True)
        if "meteor" in nlg and result["per_example"]["meteor"] is None:
            raise RuntimeError(f"METEOR is unavailable: {result.get('meteor_unavailable')}")
        out.update({m: [float(v) for v in result["per_example"][m]] for m in nlg})
    clinical = [m for m in metrics if m in _CLINICAL]
    if clinical:
        from lrrg.metrics.chexbert import compute_clinical_efficacy

        if any(not isinstance(r, str) for r in references):
            raise TypeError("clinical metrics take one reference string per prediction")
        result = compute_clinical_efficacy(predictions, references, backend=labeller, return_per_example=True)
        out.update({m: [float(v) for v in result["per_example"][_CLINICAL[m]]] for m in clinical})
    return {m: out[m] for m in metrics}


def add_per_sample_scores(
    records: Any,
    metrics: Sequence[str],
    group_by: Sequence[str] = ("system", "stratum", "kind", "severity"),
    labeller: str = "rules",
):
    """Adds per-sample metric columns to records that hold `prediction` and `reference` text.

    Each group of `group_by` (the columns present among them) is scored as one corpus with `per_sample_scores`.

    Args:
        records: a DataFrame or dicts with `prediction`, `reference` and the grouping columns.
        metrics: metric columns to add (names from `PER_SAMPLE_METRICS`).

    Returns:
        A DataFrame: the records plus one column per metric.
    """
    import pandas as pd

    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    missing = [c for c in ("prediction", "reference") if c not in df.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing} to score; columns present: {list(df.columns)}")
    keys = [c for c in group_by if c in df.columns]
    groups = df.groupby(keys, sort=False, dropna=False).groups.values() if keys else [df.index]
    for index in groups:
        scores = per_sample_scores(
            df.loc[index, "prediction"].tolist(), df.loc[index, "reference"].tolist(), metrics, labeller
        )
        for metric, values in scores.items():
            df.loc[index, metric] = values
    return df
