"""One study record shape shared by every source, and the base class of sources."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..observations import empty_labels, validate_labels

# Split names of the LRRG benchmark; sources map their own names onto these.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validate": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}


def derive_seed(*parts: object) -> int:
    """A 63-bit seed derived from any parts (stable across processes and Python versions)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def normalize_split(name: str | None) -> str | None:
    """Maps a source's split name (`validate`, `val`, ` test `...) onto train / validation / test.

    Args:
        name: the source's split name; blank or `None` means "no official split".

    Returns:
        `"train"`, `"validation"`, `"test"` or `None`.
    """
    if name is None:
        return None
    key = str(name).strip().lower()
    if not key:
        return None
    if key not in SPLIT_ALIASES:
        raise ValueError(f"unknown split name {name!r}; expected one of {sorted(SPLIT_ALIASES)}")
    return SPLIT_ALIASES[key]


@dataclass
class StudyRecord:
    """One imaging study as every source yields it.

    Attributes:
        source: name of the source (`mimic-cxr`, `iu-xray`, `folder`, `phantom`).
        subject_id: patient identifier (splits never share a subject).
        study_id: study identifier, unique within the source.
        image_id: identifier of the selected image (DICOM id for MIMIC-CXR).
        image_path: absolute path of the selected image file, or `None` when the image is in memory.
        view: view position as the source names it (`PA`, `AP`, `Frontal`...), or `None`.
        findings: FINDINGS section text ("" when absent).
        impression: IMPRESSION section text ("" when absent).
        labels: the 14 CheXpert observations (1 / 0 / -1 / `None`), in the standard order.
        split: the source's own split (train / validation / test) or `None`.
        image_relpath: path of the image relative to the source root (what a labels-only release stores).
        other_image_paths: the study's other images (e.g. lateral views), not used for the benchmark.
        image: the image itself when it exists only in memory (phantoms), else `None`.
        extra: source-specific fields (e.g. the applied degradation of a phantom).
    """

    source: str
    subject_id: str
    study_id: str
    image_id: str
    image_path: str | None
    view: str | None = None
    findings: str = ""
    impression: str = ""
    labels: dict[str, int | None] = field(default_factory=empty_labels)
    split: str | None = None
    image_relpath: str | None = None
    other_image_paths: tuple[str, ...] = ()
    image: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.subject_id = str(self.subject_id)
        self.study_id = str(self.study_id)
        self.image_id = str(self.image_id)
        self.findings = (self.findings or "").strip()
        self.impression = (self.impression or "").strip()
        self.labels = validate_labels(self.labels or {})
        self.split = normalize_split(self.split)

    @property
    def has_report(self) -> bool:
        """Whether the study has any report text (findings or impression)."""
        return bool(self.findings or self.impression)

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict without the in-memory image (JSON-serialisable)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "image"}
        data["labels"] = dict(self.labels)
        data["extra"] = dict(self.extra)
        data["other_image_paths"] = list(self.other_image_paths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyRecord:
        """Inverse of `to_dict`."""
        data = dict(data)
        data["other_image_paths"] = tuple(data.get("other_image_paths") or ())
        return cls(**data)


class StudySource:
    """Base class of sources: iterates `StudyRecord`s and says how the data may be shared.

    Sources whose records are expensive to make (phantoms) override `iter_specs` / `load` so that the
    builder can iterate cheap picklable specs in the main process and make the records in workers.
    """

    name: str = "source"
    redistributable: bool = False
    license: str = "other"
    # With `license = "other"` the Hub asks for an id and a link of the licence (dataset card metadata).
    license_name: str | None = None
    license_link: str | None = None
    citation: str = ""
    access_note: str = ""
    # Modules the builder imports before forking workers, so that each worker does not import them again.
    worker_modules: tuple[str, ...] = ()

    def iter_specs(self) -> Iterator[Any]:
        """Cheap, picklable descriptions of the studies; by default the records themselves."""
        yield from self.iter_records()

    def load(self, spec: Any) -> StudyRecord:
        """Turns a spec from `iter_specs` into a record (runs in builder workers)."""
        return spec

    def iter_records(self) -> Iterator[StudyRecord]:
        """Yields every study of the source as a `StudyRecord`."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[StudyRecord]:
        return self.iter_records()

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} does not know its length before iterating")

    def describe(self) -> str:
        """One line for logs and the dataset card."""
        return self.name


__all__ = ["SPLIT_ALIASES", "StudyRecord", "StudySource", "derive_seed", "normalize_split"]
