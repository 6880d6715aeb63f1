"""Any folder of images with a table of reports: `metadata.csv` / `.jsonl` (`image, findings, impression[, ...]`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..observations import CHEXPERT_OBSERVATIONS
from .record import StudyRecord, StudySource

# Column names accepted for the image file (the first one present wins); `file_name` is the
# Hugging Face ImageFolder convention.
IMAGE_COLUMNS = ("image", "file_name", "image_path", "path")
TABLE_NAMES = ("metadata.csv", "metadata.jsonl", "reports.csv", "reports.jsonl")


def _parse_label(value: Any, column: str, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: label column {column!r} has {value!r}; expected 1, 0, -1 or blank") from error
    if number != number:  # NaN
        return None
    return int(number)


def read_table(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a CSV or JSONL table as dicts."""
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}:{line_number} is not valid JSON ({error.msg})") from error
    elif path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
    else:
        raise ValueError(f"{path}: the report table must be a .csv or .jsonl file")


class FolderSource(StudySource):
    """Images in a folder plus a table with `image, findings, impression` and optional columns.

    Optional columns: `subject_id`, `study_id`, `image_id`, `view`, `split` and any of the 14 CheXpert
    observation names (values 1 / 0 / -1 / blank). A missing `study_id` is the image file stem; a missing
    `subject_id` is the study id (so each study is its own subject for the seeded split).

    Args:
        root: the folder of images (image paths in the table are relative to it).
        table: the report table; defaults to the first of `TABLE_NAMES` found in `root`.
        redistributable: whether the images may be published inside the `full` config.
        license: licence tag for the dataset card.
    """

    name = "folder"

    def __init__(
        self,
        root: str | Path,
        table: str | Path | None = None,
        redistributable: bool = False,
        license: str = "other",
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        if table is None:
            found = [self.root / name for name in TABLE_NAMES if (self.root / name).is_file()]
            if not found:
                raise FileNotFoundError(
                    f"no report table in {self.root}: add metadata.csv or metadata.jsonl with columns "
                    "image, findings, impression (or pass table=...)"
                )
            table = found[0]
        self.table = Path(table).expanduser().resolve()
        self.redistributable = redistributable
        self.license = license
        self.skipped: dict[str, int] = {}

    def describe(self) -> str:
        return f"image folder {self.root} with table {self.table.name}"

    def iter_records(self) -> Iterator[StudyRecord]:
        """Yields one record per table row (a row without an image file name is yielded with `image_path=None`,
        which the builder skips as a missing image).

        Raises:
            ValueError: the table has no image column, or a row has a bad label or split value (naming the row).
        """
        for index, row in enumerate(read_table(self.table), 1):
            # Row numbers as a spreadsheet shows them: the CSV header is row 1.
            number = index + 1 if self.table.suffix == ".csv" else index
            where = f"{self.table.name} row {number}"
            column = next((c for c in IMAGE_COLUMNS if c in row), None)
            if column is None:
                raise ValueError(f"{where} has no image column; name one of {IMAGE_COLUMNS} in {self.table}")
            relpath = str(row.get(column) or "").strip()
            stem = Path(relpath).stem or f"row{number}"
            study_id = str(row.get("study_id") or stem)
            labels = {
                name: _parse_label(row.get(name), name, where) for name in CHEXPERT_OBSERVATIONS if name in row
            }
            try:
                yield StudyRecord(
                    source=self.name,
                    subject_id=str(row.get("subject_id") or study_id),
                    study_id=study_id,
                    image_id=str(row.get("image_id") or stem),
                    image_path=str((self.root / relpath).resolve()) if relpath else None,
                    image_relpath=relpath or None,
                    view=row.get("view") or None,
                    findings=row.get("findings") or "",
                    impression=row.get("impression") or "",
                    labels=labels,
                    split=row.get("split") or None,
                    extra={"where": where},
                )
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from error


__all__ = ["IMAGE_COLUMNS", "TABLE_NAMES", "FolderSource", "read_table"]
