"""Sources of studies for the LRRG benchmark: MIMIC-CXR-JPG, IU X-ray, an image folder, the phantoms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .folder import FolderSource
from .iu_xray import IuXraySource
from .mimic_cxr import MimicCxrSource
from .phantom import PhantomSource, PhantomSpec
from .record import StudyRecord, StudySource, derive_seed, normalize_split

SOURCE_NAMES: tuple[str, ...] = ("mimic-cxr", "iu-xray", "folder", "phantom")
_SOURCE_CLASSES: dict[str, type[StudySource]] = {
    "mimic-cxr": MimicCxrSource,
    "iu-xray": IuXraySource,
    "folder": FolderSource,
    "phantom": PhantomSource,
}


def get_source(name: str, root: str | Path | None = None, **options: Any) -> StudySource:
    """Makes a source by name.

    Args:
        name: one of `SOURCE_NAMES` (`mimic`, `iu` and `mimic-cxr-jpg` are accepted too).
        root: the source's folder (required for every source but `phantom`).
        **options: keyword arguments of the source class (e.g. `num_studies`, `images_dir`).

    Returns:
        The `StudySource`.
    """
    key = {"mimic": "mimic-cxr", "mimic-cxr-jpg": "mimic-cxr", "iu": "iu-xray", "openi": "iu-xray"}.get(name, name)
    if key not in _SOURCE_CLASSES:
        raise ValueError(f"unknown source {name!r}; choose one of {SOURCE_NAMES}")
    if key == "phantom":
        if root is not None:
            raise ValueError("the phantom source takes no root folder (it makes its images)")
        return PhantomSource(**options)
    if root is None:
        raise ValueError(f"source {key!r} needs a root folder (--root PATH)")
    return _SOURCE_CLASSES[key](root, **options)


__all__ = [
    "SOURCE_NAMES",
    "FolderSource",
    "IuXraySource",
    "MimicCxrSource",
    "PhantomSource",
    "PhantomSpec",
    "StudyRecord",
    "StudySource",
    "derive_seed",
    "get_source",
    "normalize_split",
]
