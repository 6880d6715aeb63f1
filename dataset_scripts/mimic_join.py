"""Joins a labels-only LRRG release with the user's local MIMIC-CXR-JPG copy (images, reports, CheXpert labels)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .lrrg_features import lrrg_features
from .observations import CHEXPERT_OBSERVATIONS

logger = logging.getLogger(__name__)


def _degrade_on_access(degradation_names: list[str]):
    """A batch transform that re-applies each row's recorded degradation to its decoded image."""
    from .degradations import degrade

    def transform(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if "image" not in batch:
            return batch
        needed = ("degradation", "severity", "degradation_seed")
        if any(name not in batch for name in needed):
            raise KeyError(f"test_synthetic images need the columns {needed} to be re-degraded; select them with the image")
        images = []
        for image, kind, severity, seed in zip(batch["image"], *(batch[name] for name in needed)):
            name = degradation_names[kind] if isinstance(kind, int) else kind
            images.append(image if name == "none" else degrade(image, name, int(severity), int(seed)))
        return {**batch, "image": images}

    return transform


def join_mimic_images(dataset: Any, mimic_root: str | Path, reports_root: str | Path | None = None) -> Any:
    """Adds `image`, `findings`, `impression` and the 14 labels from a local MIMIC-CXR-JPG copy.

    Rows whose image file is missing from the copy are dropped with a warning (a partial download still
    loads). `test_synthetic` rows decode their source image and re-apply their degradation on access.

    Args:
        dataset: the `labels` config `DatasetDict`.
        mimic_root: the MIMIC-CXR-JPG folder (CSV tables and `files/`).
        reports_root: folder of `files/pXX/.../sXXXXXXXX.txt` when not inside `mimic_root`.

    Returns:
        A `DatasetDict` with the `full` config's columns (images referenced by path, decoded lazily).
    """
    from datasets import Dataset, DatasetDict, Image

    from .sources.mimic_cxr import MimicCxrSource, read_mimic_labels

    source = MimicCxrSource(mimic_root, reports_root=reports_root)
    labels = read_mimic_labels(source.root, source.label_source)
    full_features = lrrg_features("full")
    reports: dict[str, tuple[str, str]] = {}

    def add_private_columns(row: dict[str, Any]) -> dict[str, Any]:
        study = row["study_id"]
        if study not in reports:
            reports[study] = source.read_report(row["subject_id"], study) or ("", "")
        findings, impression = reports[study]
        path = source.root / (row["image_path"] or "")
        row_labels = labels.get(study, {})
        return {
            "image": str(path) if row["image_path"] and path.is_file() else None,
            "findings": findings,
            "impression": impression,
            **{name: row_labels.get(name) for name in CHEXPERT_OBSERVATIONS},
        }

    joined = {}
    for split, part in dataset.items():
        if len(part) == 0:
            joined[split] = Dataset.from_dict({name: [] for name in full_features}, features=full_features)
            continue
        # Never from the map cache: the function reads the user's files, which its fingerprint cannot see.
        mapped = part.map(add_private_columns, desc=f"joining {split} with {source.root}", load_from_cache_file=False)
        missing = sum(1 for value in mapped["image"] if value is None)
        if missing:
            logger.warning("%d %s rows have no image in %s and are dropped", missing, split, source.root)
            mapped = mapped.filter(lambda image: image is not None, input_columns="image")
        mapped = mapped.remove_columns("image_path").cast_column("image", Image())
        mapped = mapped.cast(full_features).select_columns(list(full_features))
        if split == "test_synthetic":
            mapped = mapped.with_transform(_degrade_on_access(full_features["degradation"].names))
        joined[split] = mapped
    return DatasetDict(joined)


__all__ = ["join_mimic_images"]
