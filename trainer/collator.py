"""Paired collation: every study as a high-quality view and a low-quality view, plus its report as labels.

The low-quality (LQ) view is the study's own image when the dataset marks it low quality (AQAA's
`quality_label`), otherwise a degradation of the high-quality (HQ) image drawn on the fly: kind and
severity from a configurable distribution, seeded by (seed, epoch, example key), so a run is
reproducible and every epoch sees fresh degradations. A natural LQ study has no HQ image; its HQ view is
the same image (it adds the same report to both regimes, with no HQ/LQ contrast); pass
`natural_lq="drop"` to `run_training` to train on (HQ, degraded HQ) pairs only.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import TrainerCallback
from transformers.utils import logging

__all__ = ["CollatorEpochCallback", "DegradationSampler", "PairedQualityCollator", "example_report"]

logger = logging.get_logger(__name__)

KEY_COLUMNS = ("pair_key", "image_id", "study_id")
REPORT_COLUMNS = ("findings", "impression", "report", "text")
EVAL_VIEW_COLUMN = "eval_view"


@dataclass
class DegradationSampler:
    """Draws (kind, severity, seed) per example and epoch; deterministic, never the global RNG.

    Args:
        kinds: degradation kinds (default: all of `lrrg.dataset_scripts.DEGRADATION_KINDS`).
        severities: severities to draw from (1..5).
        kind_weights / severity_weights: optional relative probabilities (uniform when None).
        seed: base seed.
    """

    kinds: Sequence[str] | None = None
    severities: Sequence[int] = (1, 2, 3, 4, 5)
    kind_weights: Sequence[float] | None = None
    severity_weights: Sequence[float] | None = None
    seed: int = 0
    _kinds: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self):
        from lrrg.dataset_scripts.degradations import DEGRADATION_KINDS

        self._kinds = tuple(self.kinds) if self.kinds else DEGRADATION_KINDS
        unknown = [k for k in self._kinds if k not in DEGRADATION_KINDS]
        if unknown:
            raise ValueError(f"unknown degradation kinds {unknown}; choose from {DEGRADATION_KINDS}")
        if not self.severities or any(int(s) not in range(1, 6) for s in self.severities):
            raise ValueError(f"severities must be integers in 1..5, got {list(self.severities)}")
        self._kind_p = _probabilities(self.kind_weights, len(self._kinds), "kind_weights")
        self._severity_p = _probabilities(self.severity_weights, len(self.severities), "severity_weights")

    def sample(self, key: int, epoch: int = 0) -> tuple[str, int, int]:
        """Returns (kind, severity, image seed) for example `key` at `epoch`."""
        rng = np.random.default_rng([self.seed, epoch, key])
        kind = self._kinds[rng.choice(len(self._kinds), p=self._kind_p)]
        severity = int(self.severities[rng.choice(len(self.severities), p=self._severity_p)])
        return kind, severity, int(rng.integers(2**31))

    def __call__(self, image: Any, key: int, epoch: int = 0) -> tuple[Any, str, int]:
        """Degrades `image` (same type and mode) and returns (image, kind, severity)."""
        from lrrg.dataset_scripts.degradations import degrade

        kind, severity, seed = self.sample(key, epoch)
        return degrade(image, kind, severity, seed), kind, severity


def _probabilities(weights: Sequence[float] | None, size: int, name: str) -> np.ndarray | None:
    if weights is None:
        return None
    values = np.asarray(weights, dtype=float)
    if values.shape != (size,) or (values < 0).any() or values.sum() <= 0:
        raise ValueError(f"{name} must be {size} non-negative numbers with a positive sum, got {list(weights)}")
    return values / values.sum()


def example_report(example: dict[str, Any], format_report) -> str:
    """The target text of an example: `findings` + `impression` (LRRG convention), else `report` / `text`.

    Args:
        example: one dataset row. format_report: `LrrgProcessor.format_report`.

    Returns:
        The report string (may be empty; the caller decides what to do with it).
    """
    if "findings" in example or "impression" in example:
        return format_report(example.get("findings"), example.get("impression"))
    for column in ("report", "text"):
        if column in example:
            return example[column] or ""
    raise ValueError(
        f"no report column: expected 'findings'/'impression', 'report' or 'text' (its columns: {sorted(example)})"
    )


def example_key(example: dict[str, Any], report: str) -> int:
    """A stable integer per example: its pair_key / image_id / study_id, else a hash of its report."""
    for column in KEY_COLUMNS:
        if example.get(column) is not None:
            value = example[column]
            return int(value) if isinstance(value, (int, np.integer)) else zlib.crc32(str(value).encode())
    return zlib.crc32(report.encode())


class PairedQualityCollator:
    """Collates raw rows (`image` + report columns) into paired training batches or evaluation batches.

    Training rows give `input_ids`, `attention_mask`, `labels`, `pixel_values` (HQ view) and
    `lq_pixel_values` (LQ view). Rows carrying an `eval_view` column ("hq" / "lq") give one view plus the
    generation prompt (`gen_input_ids`, `gen_attention_mask`) for `predict_with_generate`.

    Args:
        processor: an `LrrgProcessor` (or any processor with the same call convention).
        degradations: a `DegradationSampler` (default: all kinds, severities 1..5, seed 0).
        low_quality_value: value of `quality_label` meaning low quality, e.g. the ClassLabel index of "low"
            (see `for_dataset`); the string "low" always counts.
        skip_bad_examples: drop a row whose image or report cannot be used (with a warning) instead of
            failing the batch; a batch with no usable row still raises.
    """

    def __init__(
        self,
        processor: Any,
        degradations: DegradationSampler | None = None,
        low_quality_value: Any = "low",
        skip_bad_examples: bool = True,
    ):
        self.processor = processor
        self.degradations = degradations if degradations is not None else DegradationSampler()
        self.low_quality_value = low_quality_value
        self.skip_bad_examples = skip_bad_examples
        self.epoch = 0

    @classmethod
    def for_dataset(cls, processor: Any, dataset: Any, **kwargs: Any) -> PairedQualityCollator:
        """Builds a collator that reads the low-quality ClassLabel index from `dataset.features`."""
        feature = getattr(dataset, "features", {}).get("quality_label") if hasattr(dataset, "features") else None
        names = getattr(feature, "names", None)
        if names and "low" in names:
            kwargs.setdefault("low_quality_value", names.index("low"))
        return cls(processor, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Selects the degradations of `epoch` (called by `CollatorEpochCallback`)."""
        self.epoch = int(epoch)

    def is_low_quality(self, example: dict[str, Any]) -> bool:
        value = example.get("quality_label")
        return value is not None and (value == self.low_quality_value or value == "low")

    def _views(self, example: dict[str, Any], eval_view: str | None) -> tuple[Any, Any, str]:
        if "image" not in example:
            raise ValueError(f"row has no 'image' column (its columns: {sorted(example)})")
        image = example["image"]
        if image is None:
            raise ValueError("row has no image ('image' is None)")
        if isinstance(image, str):
            from PIL import Image

            with Image.open(image) as opened:
                image = opened.copy()
        report = example_report(example, self.processor.format_report)
        if not report.strip():
            raise ValueError("empty report")
        if eval_view == "hq":
            return image, None, report
        if self.is_low_quality(example):
            low = image
        else:
            epoch = 0 if eval_view else self.epoch  # evaluation views are fixed across epochs
            low, _, _ = self.degradations(image, example_key(example, report), epoch)
        return (low, None, report) if eval_view == "lq" else (image, low, report)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """Returns a batch dict of tensors (see the class docstring)."""
        high, low, reports, eval_views, problems = [], [], [], set(), []
        for index, example in enumerate(examples):
            eval_view = example.get(EVAL_VIEW_COLUMN)
            eval_views.add(eval_view)
            try:
                hq_image, lq_image, report = self._views(example, eval_view)
            except Exception as error:
                where = next((f"{c}={example[c]!r}" for c in KEY_COLUMNS if example.get(c) is not None), f"#{index}")
                if not self.skip_bad_examples:
                    raise ValueError(f"cannot collate example {where}: {error}") from error
                logger.warning("skipping example %s: %s", where, error)
                problems.append(f"{where}: {error}")
                continue
            high.append(hq_image)
            low.append(lq_image)
            reports.append(report)
        if not reports:
            raise ValueError(f"no usable example in a batch of {len(examples)}; first problem: {problems[0]}")
        if len(eval_views) > 1:
            raise ValueError(f"a batch mixes evaluation views {sorted(map(str, eval_views))}")
        batch = dict(self.processor(images=high, text=reports, return_tensors="pt"))
        if eval_views == {None}:
            batch["lq_pixel_values"] = self.processor.image_processor(low, return_tensors="pt")["pixel_values"]
        else:
            prompt = self.processor(images=high, return_tensors="pt")
            batch["gen_input_ids"], batch["gen_attention_mask"] = prompt["input_ids"], prompt["attention_mask"]
        return batch


class CollatorEpochCallback(TrainerCallback):
    """Tells a `PairedQualityCollator` the current epoch so that degradations change between epochs."""

    def __init__(self, collator: PairedQualityCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(int(state.epoch or 0))
