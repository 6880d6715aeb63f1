"""Columns, features and split rules of the LRRG benchmark (the schema other parts code against)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .observations import CHEXPERT_OBSERVATIONS
from .sources.record import derive_seed

SPLITS: tuple[str, ...] = ("train", "validation", "test", "test_hq", "test_lq", "test_synthetic")
BASE_SPLITS: tuple[str, ...] = ("train", "validation", "test")
CONFIGS: tuple[str, ...] = ("full", "labels")
QUALITY_LABELS: tuple[str, ...] = ("high", "low")
DEFAULT_SPLIT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
# Columns a labels-only release leaves out: credentialed sources forbid sharing images, report text
# and their label tables; `load_lrrg(..., mimic_root=...)` joins them back from the user's copy.
PRIVATE_COLUMNS: tuple[str, ...] = ("image", "findings", "impression", *CHEXPERT_OBSERVATIONS)


def criteria_names() -> tuple[str, ...]:
    """AQAA's criterion names (the `quality_flags` class names)."""
    from .aqaa import CRITERIA

    return tuple(CRITERIA)


def degradation_names() -> tuple[str, ...]:
    """`none` followed by every degradation kind (the `degradation` class names)."""
    from .degradations import DEGRADATION_KINDS

    return ("none", *DEGRADATION_KINDS)


def lrrg_features(config: str = "full"):
    """The `datasets.Features` of one config.

    Args:
        config: `"full"` (embedded images, report text, CheXpert labels) or `"labels"` (ids, relative
            image path, quality labels and degradation columns only).

    Returns:
        A `datasets.Features`; every split of a config shares it.
    """
    from datasets import ClassLabel, Features, Image, List, Value

    if config not in CONFIGS:
        raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
    columns: dict[str, Any] = {}
    if config == "full":
        columns["image"] = Image()
    columns.update(
        subject_id=Value("string"),
        study_id=Value("string"),
        image_id=Value("string"),
    )
    if config == "labels":
        columns["image_path"] = Value("string")
    columns["view"] = Value("string")
    if config == "full":
        columns["findings"] = Value("string")
        columns["impression"] = Value("string")
        for name in CHEXPERT_OBSERVATIONS:
            columns[name] = Value("int8")
    columns.update(
        quality_label=ClassLabel(names=list(QUALITY_LABELS)),
        quality_score=Value("float32"),
        quality_flags=List(ClassLabel(names=list(criteria_names()))),
        quality_reasons=List(Value("string")),
        degradation=ClassLabel(names=list(degradation_names())),
        severity=Value("int8"),
        degradation_seed=Value("int64"),
    )
    return Features(columns)


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validates train / validation / test fractions (non-negative, summing to 1)."""
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions!r}")
    return values  # type: ignore[return-value]


def assign_split(subject_id: str, seed: int, fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """Seeded split of a subject: the same subject always lands in the same split.

    A hash of `(seed, subject_id)` places each subject independently, so the assignment streams (no
    need to see every subject first) and never puts one subject in two splits.

    Args:
        subject_id: the patient id.
        seed: the build seed.
        fractions: train / validation / test fractions.

    Returns:
        `"train"`, `"validation"` or `"test"`.
    """
    train, validation, _ = check_fractions(fractions)
    position = derive_seed("split", seed, subject_id) / float(1 << 63)
    if position < train:
        return "train"
    if position < train + validation:
        return "validation"
    return "test"


__all__ = [
    "BASE_SPLITS",
    "CONFIGS",
    "DEFAULT_SPLIT_FRACTIONS",
    "PRIVATE_COLUMNS",
    "QUALITY_LABELS",
    "SPLITS",
    "assign_split",
    "check_fractions",
    "criteria_names",
    "degradation_names",
    "lrrg_features",
]
