"""IU X-ray (Open-i, Indiana University): reports from Open-i XML / JSON, the Kaggle CSVs or R2Gen's annotation.

Demner-Fushman et al., 2016. Reports and images are distributed by the NLM Open-i service under
CC BY-NC-ND 4.0. Layouts understood (found in `root`, images in `images_dir`, default `root/images`):

- R2Gen `annotation.json` (`{"train": [...], "val": [...], "test" | "    ": [...]}`; the test key is four
  spaces in the commonly shared file), images at `images/<id>/0.png`; its split is kept.
- Open-i `openi_reports.json` (`{"ecgen-radiology/162.xml": {"image": [...], "report": {...}}}`) or a
  folder of Open-i XML files (`ecgen-radiology/*.xml`), images named `<image id>.png` (`CXR162_IM-0401-1001.png`).
- Kaggle `indiana_reports.csv` + `indiana_projections.csv`, images named as in the projections table
  (`162_IM-0401-1001.dcm.png`).

The frontal image is chosen with `indiana_projections.csv` when present, otherwise the first image.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from .record import StudyRecord, StudySource

logger = logging.getLogger(__name__)

IU_CITATION = """@article{demner2016preparing,
  title   = {Preparing a collection of radiology examinations for distribution and retrieval},
  author  = {Demner-Fushman, Dina and Kohli, Marc D. and Rosenman, Marc B. and Shooshan, Sonya E. and
             Rodriguez, Laritza and Antani, Sameer and Thoma, George R. and McDonald, Clement J.},
  journal = {Journal of the American Medical Informatics Association},
  volume  = {23}, number = {2}, pages = {304--310}, year = {2016}
}"""
IU_LICENSE = "cc-by-nc-nd-4.0"
LAYOUTS = ("r2gen", "openi-json", "openi-xml", "kaggle-csv")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".dcm.png")


def _uid_of(image_id: str) -> str:
    """`CXR162_IM-0401-1001` -> `162`."""
    match = re.match(r"(?:CXR)?(\d+)", image_id)
    return match.group(1) if match else image_id


def _canonical_image_name(name: str) -> str:
    """Maps every IU naming onto `CXR<uid>_IM-XXXX-XXXX` (Kaggle names drop `CXR` and add `.dcm.png`)."""
    stem = Path(name).name
    for suffix in (".dcm.png", ".png", ".jpg", ".jpeg"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem if stem.startswith("CXR") else f"CXR{stem}"


def _projection_key(name: str) -> str:
    """Key into `indiana_projections.csv`: Open-i writes a few ids as `CXR1_1_IM-...` where that table has `1_IM-...`."""
    return re.sub(r"^(CXR\d+)_\d+_(IM-)", r"\1_\2", _canonical_image_name(name))


class IuXraySource(StudySource):
    """IU X-ray studies (one frontal image each) from any of the common report layouts.

    Args:
        root: folder holding the report file(s) (or the file itself).
        images_dir: folder of PNG images; defaults to `root/images`.
        layout: one of `LAYOUTS` or `"auto"` (R2Gen annotation first, then Open-i JSON / XML, then CSV).
    """

    name = "iu-xray"
    redistributable = False
    license = IU_LICENSE
    citation = IU_CITATION
    access_note = (
        "IU X-ray (Open-i) images and reports are CC BY-NC-ND 4.0: get them from https://openi.nlm.nih.gov/ "
        "and point `--root` / `--images-dir` at your copy."
    )

    def __init__(self, root: str | Path, images_dir: str | Path | None = None, layout: str = "auto") -> None:
        path = Path(root).expanduser().resolve()
        self.root = path if path.is_dir() else path.parent
        self.report_file = path if path.is_file() else None
        if not path.exists():
            raise FileNotFoundError(f"IU X-ray root {path} does not exist")
        self.images_dir = Path(images_dir).expanduser().resolve() if images_dir else self.root / "images"
        self.layout = self._detect_layout() if layout == "auto" else layout
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be 'auto' or one of {LAYOUTS}, got {layout!r}")
        self.projections = self._read_projections()
        self.skipped: dict[str, int] = {}

    def describe(self) -> str:
        return f"IU X-ray ({self.layout}) reports in {self.root}, images in {self.images_dir}"

    def _find(self, *names: str) -> Path | None:
        if self.report_file is not None:
            return self.report_file if self.report_file.name in names else None
        for name in names:
            if (self.root / name).is_file():
                return self.root / name
        return None

    def _detect_layout(self) -> str:
        if self._find("annotation.json", "r2gen_annotation.json"):
            return "r2gen"
        if self._find("openi_reports.json"):
            return "openi-json"
        if self.report_file is None and any(self.root.glob("**/*.xml")):
            return "openi-xml"
        if self._find("indiana_reports.csv"):
            return "kaggle-csv"
        raise FileNotFoundError(
            f"no IU X-ray reports found in {self.root}: expected annotation.json (R2Gen), openi_reports.json, "
            "Open-i XML files or indiana_reports.csv + indiana_projections.csv"
        )

    def _read_projections(self) -> dict[str, str]:
        """Canonical image name -> `Frontal` / `Lateral` from `indiana_projections.csv` (empty when absent)."""
        path = self.root / "indiana_projections.csv"
        if not path.is_file():
            return {}
        with path.open(newline="", encoding="utf-8") as handle:
            return {_projection_key(row["filename"]): row["projection"] for row in csv.DictReader(handle)}

    def _resolve_image(self, name: str) -> Path:
        """Finds an image under any IU naming; returns the preferred (missing) path when none exists."""
        canonical = _canonical_image_name(name)
        candidates = [self.images_dir / name] if Path(name).suffix else []
        candidates += [self.images_dir / f"{canonical}{ext}" for ext in (".png", ".jpg")]
        candidates.append(self.images_dir / f"{canonical[3:]}.dcm.png")
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        return candidates[0]

    def _pick_frontal(self, images: list[str]) -> tuple[str, str | None]:
        for name in images:
            if self.projections.get(_projection_key(name)) == "Frontal":
                return name, "Frontal"
        return images[0], self.projections.get(_projection_key(images[0]))

    def _iter_raw(self) -> Iterator[tuple[str, list[str], str, str, str | None]]:
        """`(uid, image names, findings, impression, split)` per study, in the layout's order."""
        if self.layout == "r2gen":
            data = json.loads(self._find("annotation.json", "r2gen_annotation.json").read_text(encoding="utf-8"))
            for key, entries in data.items():
                for entry in entries:
                    split = entry.get("split") or key.strip() or "test"
                    yield _uid_of(entry["id"]), list(entry["image_path"]), entry.get("report", ""), "", split
        elif self.layout == "openi-json":
            data = json.loads(self._find("openi_reports.json").read_text(encoding="utf-8"))
            for key, entry in data.items():
                report = entry.get("report") or {}
                uid = Path(key).stem
                yield uid, list(entry.get("image") or []), report.get("FINDINGS") or "", report.get("IMPRESSION") or "", None
        elif self.layout == "openi-xml":
            for path in sorted(self.root.glob("**/*.xml")):
                yield self._parse_xml(path)
        else:
            by_uid: dict[str, list[str]] = {}
            with (self.root / "indiana_projections.csv").open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    by_uid.setdefault(row["uid"], []).append(row["filename"])
            with self._find("indiana_reports.csv").open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    yield row["uid"], by_uid.get(row["uid"], []), row.get("findings") or "", row.get("impression") or "", None

    @staticmethod
    def _parse_xml(path: Path) -> tuple[str, list[str], str, str, None]:
        tree = ElementTree.parse(path)
        texts = {
            (node.get("Label") or "").upper(): (node.text or "") for node in tree.iter("AbstractText")
        }
        images = [node.get("id") for node in tree.iter("parentImage") if node.get("id")]
        return path.stem, images, texts.get("FINDINGS", ""), texts.get("IMPRESSION", ""), None

    def iter_records(self) -> Iterator[StudyRecord]:
        """Yields one record per study that lists at least one image."""
        for uid, images, findings, impression, split in self._iter_raw():
            if not images:
                self.skipped["no image listed"] = self.skipped.get("no image listed", 0) + 1
                continue
            chosen, view = self._pick_frontal(images)
            path = self._resolve_image(chosen)
            others = tuple(str(self._resolve_image(name)) for name in images if name != chosen)
            yield StudyRecord(
                source=self.name,
                subject_id=uid,
                study_id=uid,
                image_id=_canonical_image_name(chosen) if "/" not in chosen else chosen,
                image_path=str(path),
                image_relpath=path.relative_to(self.images_dir).as_posix(),
                view=view,
                findings=findings,
                impression=impression,
                split=split,
                other_image_paths=others,
            )


__all__ = ["IU_CITATION", "IU_LICENSE", "LAYOUTS", "IuXraySource"]
