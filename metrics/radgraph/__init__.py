"""RadGraph F1 (the F1RadGraph reward at the simple, partial and complete levels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .annotator import MODEL_TYPES, RADGRAPH_HELP, RadGraphAnnotator, load_annotator
from .scoring import REWARD_LEVELS, annotation_sets, f1radgraph, radgraph_reward

__all__ = [
    "MODEL_TYPES",
    "RADGRAPH_HELP",
    "REWARD_LEVELS",
    "RadGraphAnnotator",
    "annotation_sets",
    "compute_radgraph",
    "f1radgraph",
    "load_annotator",
    "radgraph_reward",
]


def compute_radgraph(
    predictions: Sequence[str],
    references: Sequence[str],
    model_type: str = "radgraph",
    model_dir=None,
    return_per_example: bool = False,
) -> dict[str, Any]:
    """Annotates both sides with RadGraph, then scores `f1radgraph` (empty reports score 0).

    Args:
        predictions: generated reports. references: reference reports, one per prediction.
        model_type, model_dir: see `RadGraphAnnotator`.
        return_per_example: add per-pair rewards.

    Returns:
        `radgraph_simple`, `radgraph_partial`, `radgraph_complete`, `num_examples`, `model_type`.
    """
    for what, texts in (("predictions", predictions), ("references", references)):
        if isinstance(texts, str):
            raise TypeError(f"{what} must be a list of reports, not a single string")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"{what}[{i}] is {type(t).__name__} ({t!r}), expected a report string")
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    annotator = load_annotator(model_type, model_dir)
    annotations = annotator(list(predictions) + list(references))
    result = f1radgraph(annotations[: len(predictions)], annotations[len(predictions) :], return_per_example)
    result["model_type"] = model_type
    return result
