"""The F1RadGraph reward (simple / partial / complete) computed from RadGraph annotations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["REWARD_LEVELS", "annotation_sets", "f1radgraph", "radgraph_reward"]

REWARD_LEVELS = ("simple", "partial", "complete")


def _entities(annotation: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(annotation, Mapping) or "entities" not in annotation:
        raise ValueError(
            "a RadGraph annotation is a dict with an 'entities' mapping (id -> {tokens, label, relations}); "
            f"got {type(annotation).__name__} with keys {list(annotation)[:5] if isinstance(annotation, Mapping) else ''}"
        )
    return annotation["entities"]


def annotation_sets(annotation: Mapping[str, Any]) -> dict[str, set]:
    """The three sets F1RadGraph compares, for one report's annotation.

    - simple: `(tokens, label)` per entity;
    - partial: `(tokens, label)` for entities without relations, `(tokens, label, True)` for those with;
    - complete: `(tokens, label)` for entities without relations, and per relation
      `(tokens.lower(), label, relation, target_tokens.lower())`.
    """
    entities = _entities(annotation)
    simple, partial, complete = set(), set(), set()
    for entity in entities.values():
        tokens, label, relations = entity["tokens"], entity["label"], entity.get("relations") or []
        simple.add((tokens, label))
        if relations:
            partial.add((tokens, label, True))
            for relation, target in relations:
                complete.add((tokens.lower(), label, relation, entities[str(target)]["tokens"].lower()))
        else:
            partial.add((tokens, label))
            complete.add((tokens, label))
    return {"simple": simple, "partial": partial, "complete": complete}


def _f1(hyp: set, ref: set) -> float:
    precision = len(hyp & ref) / len(hyp) if hyp else 0.0
    recall = len(hyp & ref) / len(ref) if ref else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def radgraph_reward(hyp_annotation: Mapping[str, Any], ref_annotation: Mapping[str, Any]) -> dict[str, float]:
    """F1RadGraph of one pair at the three levels: `{"simple", "partial", "complete"}`."""
    hyp, ref = annotation_sets(hyp_annotation), annotation_sets(ref_annotation)
    return {level: _f1(hyp[level], ref[level]) for level in REWARD_LEVELS}


def f1radgraph(
    hyp_annotations: Sequence[Mapping[str, Any] | None],
    ref_annotations: Sequence[Mapping[str, Any] | None],
    return_per_example: bool = False,
) -> dict[str, Any]:
    """Mean F1RadGraph over pairs, from RadGraph annotations.

    Args:
        hyp_annotations: per generated report its annotation (`{"text", "entities": {id: {"tokens", "label",
            "relations": [[relation, target_id], ...]}}}`, RadGraph's output format), or `None` for an empty report.
        ref_annotations: the same for the references.
        return_per_example: add `per_example` (level -> list of per-pair rewards).

    Returns:
        `radgraph_simple`, `radgraph_partial`, `radgraph_complete`, `num_examples`; a pair whose report is
        empty (annotation `None`) scores 0, as F1RadGraph does.
    """
    if len(hyp_annotations) != len(ref_annotations):
        raise ValueError(
            f"got {len(hyp_annotations)} hypothesis annotations but {len(ref_annotations)} references"
        )
    if not len(hyp_annotations):
        raise ValueError("no annotations to score")
    per = {level: [] for level in REWARD_LEVELS}
    for hyp, ref in zip(hyp_annotations, ref_annotations):
        rewards = (
            dict.fromkeys(REWARD_LEVELS, 0.0) if hyp is None or ref is None else radgraph_reward(hyp, ref)
        )
        for level in REWARD_LEVELS:
            per[level].append(rewards[level])
    result: dict[str, Any] = {f"radgraph_{level}": sum(v) / len(v) for level, v in per.items()}
    result["num_examples"] = len(per["simple"])
    if return_per_example:
        result["per_example"] = per
    return result
