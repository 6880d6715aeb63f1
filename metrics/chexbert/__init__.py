"""Clinical efficacy: a CheXpert-style rule labeller, the CheXbert model, and label-based scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .model import CHEXBERT_CONDITIONS, WEIGHTS_HELP, CheXbertLabeler, load_chexbert
from .rules import RuleLabeller, label_reports_rules, split_sentences
from .scoring import (
    UNCERTAIN_POLICIES,
    binarize_labels,
    clinical_efficacy,
    f1_from_counts,
    f1_statistic,
    per_example_counts,
)

BACKENDS = ("rules", "chexbert")

__all__ = [
    "BACKENDS",
    "CHEXBERT_CONDITIONS",
    "UNCERTAIN_POLICIES",
    "WEIGHTS_HELP",
    "CheXbertLabeler",
    "RuleLabeller",
    "binarize_labels",
    "clinical_efficacy",
    "compute_clinical_efficacy",
    "f1_from_counts",
    "f1_statistic",
    "label_reports",
    "label_reports_rules",
    "load_chexbert",
    "per_example_counts",
    "split_sentences",
]


def _check_texts(texts: Sequence[str], what: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a list of reports, not a single string (wrap it: [text])")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] is {type(t).__name__} ({t!r}), expected a report string")
    return texts


def label_reports(
    texts: Sequence[str], backend: str = "rules", **backend_kwargs
) -> list[dict[str, int | None]]:
    """Labels reports with the 14 CheXpert observations.

    Args:
        texts: report strings.
        backend: "rules" (offline rule labeller, default) or "chexbert" (the CheXbert model; keyword arguments
            `checkpoint`, `tokenizer`, `device`, `batch_size` go to `CheXbertLabeler`).

    Returns:
        One dict per report, observation name -> 1 (positive), 0 (negative), -1 (uncertain) or None (blank),
        keys in the standard order (`lrrg.dataset_scripts.observations.CHEXPERT_OBSERVATIONS`).
    """
    texts = _check_texts(texts)
    if backend == "rules":
        if backend_kwargs:
            raise TypeError(f"the rules backend takes no options, got {sorted(backend_kwargs)}")
        return label_reports_rules(texts)
    if backend == "chexbert":
        return load_chexbert(**backend_kwargs)(texts)
    raise ValueError(f"backend={backend!r} is not one of {BACKENDS}")


def compute_clinical_efficacy(
    predictions: Sequence[str],
    references: Sequence[str],
    backend: str = "rules",
    uncertain: str = "negative",
    return_per_example: bool = False,
    **backend_kwargs,
) -> dict[str, Any]:
    """Labels generated and reference reports, then scores them with `clinical_efficacy`.

    Args:
        predictions: generated reports. references: reference reports, one per prediction.
        backend: labeller, "rules" or "chexbert". uncertain: "negative" or "positive" (see `clinical_efficacy`).
        return_per_example: add per-example counts for bootstrapping.

    Returns:
        The `clinical_efficacy` result plus `labeller` (the backend name).
    """
    predictions, references = _check_texts(predictions, "predictions"), _check_texts(references, "references")
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    labels = label_reports(predictions + references, backend=backend, **backend_kwargs)
    result = clinical_efficacy(
        labels[: len(predictions)], labels[len(predictions) :], uncertain=uncertain,
        return_per_example=return_per_example,
    )  # fmt: skip
    result["labeller"] = backend
    return result
