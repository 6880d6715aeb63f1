"""MIMIC-CXR-JPG: the official file layout, CSV tables and free-text reports, one frontal image per study.

MIMIC-CXR-JPG v2.0.0 (Johnson et al., 2019) is a credentialed PhysioNet dataset: users must sign its data
use agreement and bring their own copy; its images and reports may not be redistributed.

Layout (as downloaded from PhysioNet)::

    ROOT/mimic-cxr-2.0.0-split.csv(.gz)        dicom_id, study_id, subject_id, split
    ROOT/mimic-cxr-2.0.0-metadata.csv(.gz)     dicom_id, subject_id, study_id, ..., ViewPosition, ...
    ROOT/mimic-cxr-2.0.0-chexpert.csv(.gz)     subject_id, study_id, <14 observations>  (or -negbio)
    ROOT/files/pXX/pXXXXXXXX/sXXXXXXXX/<dicom_id>.jpg
    REPORTS/files/pXX/pXXXXXXXX/sXXXXXXXX.txt  (mimic-cxr-reports; REPORTS defaults to ROOT)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..observations import CHEXPERT_OBSERVATIONS
from ..report_sections import extract_sections
from .record import StudyRecord, StudySource, normalize_split

logger = logging.getLogger(__name__)

MIMIC_CITATION = """@article{johnson2019mimiccxrjpg,
  title   = {MIMIC-CXR-JPG, a large publicly available database of labeled chest radiographs},
  author  = {Johnson, Alistair E. W. and Pollard, Tom J. and Greenbaum, Nathaniel R. and Lungren, Matthew P.
             and Deng, Chih-ying and Peng, Yifan and Lu, Zhiyong and Mark, Roger G. and Berkowitz, Seth J.
             and Horng, Steven},
  journal = {arXiv preprint arXiv:1901.07042},
  year    = {2019}
}"""
MIMIC_ACCESS_NOTE = (
    "MIMIC-CXR-JPG is a credentialed PhysioNet dataset (PhysioNet Credentialed Health Data License 1.5.0). "
    "Its images, reports and labels may not be redistributed: sign the data use agreement at "
    "https://physionet.org/content/mimic-cxr-jpg/2.0.0/ and point `mimic_root` at your local copy."
)
SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
LABEL_CSVS = {"chexpert": "mimic-cxr-2.0.0-chexpert.csv", "negbio": "mimic-cxr-2.0.0-negbio.csv"}
DEFAULT_VIEW_PRIORITY = ("PA", "AP")


def find_table(root: Path, name: str) -> Path:
    """Returns `root/name` or `root/name.gz`, whichever exists; raises a clear error otherwise."""
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name}(.gz) not found in {root}: point --root at your MIMIC-CXR-JPG 2.0.0 folder "
        "(the one that holds the CSV tables and files/)"
    )


def study_dir(subject_id: str, study_id: str) -> Path:
    """Relative folder of a study: `files/pXX/pXXXXXXXX/sXXXXXXXX`."""
    subject = f"p{subject_id}"
    return Path("files") / subject[:3] / subject / f"s{study_id}"


def image_relpath(subject_id: str, study_id: str, dicom_id: str) -> str:
    """Relative path of one JPEG: `files/pXX/pXXXXXXXX/sXXXXXXXX/<dicom_id>.jpg`."""
    return (study_dir(subject_id, study_id) / f"{dicom_id}.jpg").as_posix()


def report_relpath(subject_id: str, study_id: str) -> str:
    """Relative path of a study's report: `files/pXX/pXXXXXXXX/sXXXXXXXX.txt`."""
    folder = study_dir(subject_id, study_id)
    return (folder.parent / f"{folder.name}.txt").as_posix()


def read_mimic_labels(root: Path, label_source: str = "chexpert") -> dict[str, dict[str, int | None]]:
    """Reads the CheXpert (or NegBio) label table into `study_id -> 14-label row`."""
    import pandas as pd

    if label_source not in LABEL_CSVS:
        raise ValueError(f"label_source must be one of {sorted(LABEL_CSVS)}, got {label_source!r}")
    try:
        path = find_table(root, LABEL_CSVS[label_source])
    except FileNotFoundError:
        logger.warning("no %s label table in %s: CheXpert labels will be blank", label_source, root)
        return {}
    table = pd.read_csv(path, dtype={"subject_id": str, "study_id": str})
    missing = [name for name in CHEXPERT_OBSERVATIONS if name not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the observation column(s) {missing}; is it the MIMIC-CXR-JPG label table?")
    labels: dict[str, dict[str, int | None]] = {}
    values = table[list(CHEXPERT_OBSERVATIONS)].to_numpy()
    for study_id, row in zip(table["study_id"].tolist(), values):
        labels[study_id] = {
            name: (None if value != value else int(value)) for name, value in zip(CHEXPERT_OBSERVATIONS, row)
        }
    return labels


class MimicCxrSource(StudySource):
    """MIMIC-CXR-JPG studies with one frontal image each (PA preferred, then AP, configurable).

    Args:
        root: the MIMIC-CXR-JPG folder (CSV tables + `files/`).
        reports_root: folder holding `files/pXX/.../sXXXXXXXX.txt` (mimic-cxr-reports); defaults to `root`.
        view_priority: view positions to accept, best first; studies without any are skipped.
        label_source: `"chexpert"` or `"negbio"` label table.
        splits: keep only these official splits (train / validation / test); `None` keeps all.
    """

    name = "mimic-cxr"
    redistributable = False
    license = "other"
    license_name = "physionet-credentialed-health-data-license-1.5.0"
    license_link = "https://physionet.org/content/mimic-cxr-jpg/view-license/2.0.0/"
    citation = MIMIC_CITATION
    access_note = MIMIC_ACCESS_NOTE

    def __init__(
        self,
        root: str | Path,
        reports_root: str | Path | None = None,
        view_priority: Sequence[str] = DEFAULT_VIEW_PRIORITY,
        label_source: str = "chexpert",
        splits: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"MIMIC-CXR-JPG root {self.root} is not a folder")
        self.reports_root = Path(reports_root).expanduser().resolve() if reports_root else self.root
        self.view_priority = tuple(str(v).upper() for v in view_priority)
        if not self.view_priority:
            raise ValueError("view_priority must name at least one view position, e.g. ('PA', 'AP')")
        self.label_source = label_source
        self.splits = None if splits is None else {normalize_split(s) for s in splits}  # `validate` = `validation`
        self.skipped: dict[str, int] = {}

    def describe(self) -> str:
        return f"MIMIC-CXR-JPG at {self.root} (views {'>'.join(self.view_priority)}, {self.label_source} labels)"

    def _select_images(self) -> list[tuple[str, str, str, str, str]]:
        """One `(subject_id, study_id, dicom_id, view, split)` per study, by view priority."""
        import pandas as pd

        meta = pd.read_csv(
            find_table(self.root, METADATA_CSV),
            usecols=["dicom_id", "subject_id", "study_id", "ViewPosition"],
            dtype=str,
        )
        split = pd.read_csv(find_table(self.root, SPLIT_CSV), usecols=["dicom_id", "split"], dtype=str)
        table = meta.merge(split, on="dicom_id", how="left")
        table["ViewPosition"] = table["ViewPosition"].fillna("").str.upper()
        rank = {view: index for index, view in enumerate(self.view_priority)}
        table["rank"] = table["ViewPosition"].map(rank)
        studies_total = table["study_id"].nunique()
        table = table.dropna(subset=["rank"]).sort_values(["subject_id", "study_id", "rank", "dicom_id"])
        chosen = table.drop_duplicates("study_id", keep="first")
        no_view = studies_total - len(chosen)
        if no_view:
            self.skipped["no frontal image"] = no_view
            logger.info("%d MIMIC-CXR studies have no %s image and are skipped", no_view, "/".join(self.view_priority))
        chosen = chosen.assign(split=chosen["split"].fillna(""))
        return list(
            zip(chosen["subject_id"], chosen["study_id"], chosen["dicom_id"], chosen["ViewPosition"], chosen["split"])
        )

    def read_report(self, subject_id: str, study_id: str) -> tuple[str, str] | None:
        """`(findings, impression)` of a study, or `None` when its report file is missing."""
        path = self.reports_root / report_relpath(subject_id, study_id)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        sections = extract_sections(text)
        return sections.findings, sections.impression

    def iter_records(self) -> Iterator[StudyRecord]:
        """Yields one record per study with a selected frontal image (reports may be empty: the builder skips)."""
        labels = read_mimic_labels(self.root, self.label_source)
        for subject_id, study_id, dicom_id, view, split in self._select_images():
            if self.splits is not None and normalize_split(split) not in self.splits:
                continue
            report = self.read_report(subject_id, study_id)
            relpath = image_relpath(subject_id, study_id, dicom_id)
            yield StudyRecord(
                source=self.name,
                subject_id=subject_id,
                study_id=study_id,
                image_id=dicom_id,
                image_path=str(self.root / relpath),
                image_relpath=relpath,
                view=view,
                findings=report[0] if report else "",
                impression=report[1] if report else "",
                labels=labels.get(study_id, {}),
                split=split or None,
                extra={"report_missing": report is None,
                       "report_path": str(self.reports_root / report_relpath(subject_id, study_id))},
            )


__all__ = [
    "DEFAULT_VIEW_PRIORITY",
    "MIMIC_ACCESS_NOTE",
    "MIMIC_CITATION",
    "MimicCxrSource",
    "find_table",
    "image_relpath",
    "read_mimic_labels",
    "report_relpath",
]
