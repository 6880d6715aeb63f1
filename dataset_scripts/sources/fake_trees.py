"""Small fake source trees with the real layouts (MIMIC-CXR-JPG), filled with phantom images, for tests and demos.

The file names, CSV columns and report formatting are those of MIMIC-CXR-JPG 2.0.0 and mimic-cxr-reports;
the content is procedural. A tree can include the defects a real copy has: a corrupt JPEG, a study
without a report file, a study with only a lateral view.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..observations import CHEXPERT_OBSERVATIONS
from .mimic_cxr import LABEL_CSVS, METADATA_CSV, SPLIT_CSV, image_relpath, report_relpath

METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns",
    "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
_VIEW_CODES = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral"}


@dataclass
class FakeMimicTree:
    """What `write_fake_mimic_tree` wrote: the root and the ids of each planted defect."""

    root: Path
    studies: list[dict[str, Any]] = field(default_factory=list)
    corrupt_study: str | None = None
    missing_report_study: str | None = None
    lateral_only_study: str | None = None


def _report_text(findings: str, impression: str, style: int) -> str:
    """A report formatted like mimic-cxr-reports (header block, wrapped sections); three styles."""
    header = "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n"
    header += " INDICATION:  ___-year-old with shortness of breath.\n \n COMPARISON:  ___\n \n"
    if style == 0:
        return f"{header} FINDINGS: \n \n {findings}\n \n IMPRESSION: \n \n {impression}\n"
    if style == 1:  # impression only, as many portable studies
        return f"{header} IMPRESSION: \n \n {findings} {impression}\n"
    return f"{header} {findings}\n"  # no section headers: the last paragraph stands in for findings


def _default_image_factory(seed: int, view: str, size: int) -> Any:
    from ..phantoms import generate_phantom

    study = generate_phantom(seed, size=size, view=view if view in ("PA", "AP") else None)
    return study


def _write_csv_gz(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())


def write_fake_mimic_tree(
    root: str | Path,
    num_subjects: int = 8,
    seed: int = 0,
    size: int = 128,
    defects: bool = True,
    image_factory: Callable[[int, str, int], Any] = _default_image_factory,
) -> FakeMimicTree:
    """Writes a MIMIC-CXR-JPG-shaped tree of phantom studies (gzipped CSVs, JPEGs, report text files).

    Args:
        root: the folder to fill.
        num_subjects: subjects (1-2 studies each, PA/AP frontal plus a lateral).
        seed: seeds everything.
        size: image side in pixels.
        defects: plant one corrupt JPEG, one study without a report and one lateral-only study.
        image_factory: `(seed, view, size) -> PhantomStudy-like` (image, findings, impression, labels).

    Returns:
        A `FakeMimicTree` naming the studies and the planted defects.
    """
    root = Path(root)
    rng = random.Random(seed)
    tree = FakeMimicTree(root=root)
    meta_rows, split_rows, label_rows = [], [], []
    splits = ["train", "train", "train", "validate", "test"]
    for subject_index in range(num_subjects):
        subject_id = str(10_000_000 + 32 + subject_index * 7919)
        subject_split = splits[subject_index % len(splits)]
        for study_index in range(1 + subject_index % 2):
            study_id = str(50_000_000 + rng.randrange(9_999_999))
            frontal = "PA" if (subject_index + study_index) % 3 else "AP"
            phantom = image_factory(rng.randrange(2**31), frontal, size)
            views = [frontal, "LATERAL"]
            if defects and tree.lateral_only_study is None and subject_index == 2:
                views = ["LATERAL"]
                tree.lateral_only_study = study_id
            study = {"subject_id": subject_id, "study_id": study_id, "split": subject_split, "dicom_ids": []}
            for view in views:
                dicom_id = "-".join(f"{rng.randrange(16**8):08x}" for _ in range(5))
                path = root / image_relpath(subject_id, study_id, dicom_id)
                path.parent.mkdir(parents=True, exist_ok=True)
                phantom.image.convert("L").save(path, format="JPEG", quality=95)
                study["dicom_ids"].append((dicom_id, view))
                meta_rows.append({
                    "dicom_id": dicom_id, "subject_id": subject_id, "study_id": study_id,
                    "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": view,
                    "Rows": size, "Columns": size, "StudyDate": 21800506 + study_index, "StudyTime": 213014.531,
                    "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
                    "ViewCodeSequence_CodeMeaning": _VIEW_CODES[view],
                    "PatientOrientationCodeSequence_CodeMeaning": "Erect",
                })
                split_rows.append({"dicom_id": dicom_id, "study_id": study_id, "subject_id": subject_id, "split": subject_split})
            if defects and tree.corrupt_study is None and subject_index == 1:
                frontal_path = root / image_relpath(subject_id, study_id, study["dicom_ids"][0][0])
                frontal_path.write_bytes(frontal_path.read_bytes()[:200])  # truncated JPEG
                tree.corrupt_study = study_id
            report_path = root / report_relpath(subject_id, study_id)
            if defects and tree.missing_report_study is None and subject_index == 3:
                tree.missing_report_study = study_id
            else:
                report_path.write_text(_report_text(phantom.findings, phantom.impression, len(tree.studies) % 3), encoding="utf-8")
            label_rows.append({
                "subject_id": subject_id, "study_id": study_id,
                **{name: ("" if value is None else float(value)) for name, value in phantom.labels.items()},
            })
            study.update(findings=phantom.findings, impression=phantom.impression, labels=dict(phantom.labels))
            tree.studies.append(study)
    _write_csv_gz(root / f"{METADATA_CSV}.gz", METADATA_COLUMNS, meta_rows)
    _write_csv_gz(root / f"{SPLIT_CSV}.gz", ("dicom_id", "study_id", "subject_id", "split"), split_rows)
    _write_csv_gz(root / f"{LABEL_CSVS['chexpert']}.gz", ("subject_id", "study_id", *CHEXPERT_OBSERVATIONS), label_rows)
    return tree


__all__ = ["METADATA_COLUMNS", "FakeMimicTree", "write_fake_mimic_tree"]
