"""AQAA, the Automated Quality Assessment Agent: explainable per-criterion quality flags for chest radiographs.

Measurement tools (`quality_measures`) give one number per criterion; thresholds come from a robust
calibration (median + k x MAD over a reference set, like MRIQC), saved as JSON; an optional judge
(any local image-text-to-text model, `quality_judge`) is consulted only for borderline cases.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .image_io import ImageLoadError, open_image
from .quality_measures import CRITERION_DESCRIPTIONS, MEASURES, WORKING_SIZE, measure_all, prepare

logger = logging.getLogger(__name__)

# Version of AQAA's measurements and scoring: part of the build cache's fingerprint and of the dataset card.
# Bump it whenever a measurement changes, so that cached results of the old one are not reused.
AQAA_VERSION = "1.1"
CRITERIA: tuple[str, ...] = tuple(MEASURES)
DEFAULT_CALIBRATION_PATH = Path(__file__).with_name("aqaa_calibration.json")
DEFAULT_K = 3.5
# Smallest spread per criterion (in the measurement's own unit): a reference set of near-identical
# images must not turn an invisible change into a flag.
MIN_SCALE: dict[str, float] = {
    "noise": 0.003,
    "blur": 0.08,
    "motion": 0.08,
    "exposure": 0.03,
    "contrast": 0.06,
    "compression": 0.07,
    "resolution": 0.15,
    "grid": 0.25,
    "rotation": 0.6,
    "field_of_view": 0.05,
    "annotation": 0.15,
    "screen_photo": 0.04,
}
# Words for the reasons; "{v}" and "{t}" are the measured value and the threshold.
_REASON_TEMPLATES: dict[str, str] = {
    "noise": "strong high-frequency noise (sigma~{v:.3f}, threshold {t:.3f})",
    "blur": "blurred, fine detail lost (blur index {v:.2f}, threshold {t:.2f})",
    "motion": "directional motion blur (anisotropy {v:.2f}, threshold {t:.2f})",
    "exposure": "{what} (exposure index {v:.2f}, threshold {t:.2f})",
    "contrast": "low contrast / wrong windowing (contrast index {v:.2f}, threshold {t:.2f})",
    "compression": "JPEG block artefacts (blockiness {v:.2f}, threshold {t:.2f})",
    "resolution": "upscaled from low resolution (interpolation index {v:.2f}, threshold {t:.2f})",
    "grid": "grid lines / moire stripes (stripe peak {v:.2f}, threshold {t:.2f})",
    "rotation": "rotated / tilted image (~{v:.1f} degrees, threshold {t:.1f})",
    "field_of_view": "field of view cut off, lungs reach the {where} edge (index {v:.2f}, threshold {t:.2f})",
    "annotation": "burned-in text or markers ({v:.1f} per mille of pixels, threshold {t:.1f})",
    "screen_photo": "looks like a photograph of a monitor (index {v:.2f}, threshold {t:.2f})",
}


@dataclass
class QualityReport:
    """AQAA's verdict on one image: overall score and label, per-criterion flags and reasons."""

    path: str | None = None
    label: str | None = None
    score: float = 0.0
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    judge: dict[str, Any] | None = None
    size: tuple[int, int] | None = None

    @property
    def flagged_criteria(self) -> tuple[str, ...]:
        """Names of the flagged criteria, most severe first."""
        flagged = [(c, f.get("excess", 0.0)) for c, f in self.flags.items() if f.get("flagged")]
        return tuple(c for c, _ in sorted(flagged, key=lambda item: -item[1]))

    @property
    def top_criterion(self) -> str | None:
        """The criterion furthest beyond its threshold (None when nothing is flagged)."""
        flagged = self.flagged_criteria
        return flagged[0] if flagged else None

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record: path, quality_label, quality_score, flags, reasons, error (+ judge, size)."""
        return {
            "path": self.path,
            "quality_label": self.label,
            "quality_score": None if self.error else round(float(self.score), 4),
            "flags": {c: {"flagged": bool(f["flagged"]), "value": round(float(f["value"]), 5),
                          "threshold": round(float(f["threshold"]), 5)} for c, f in self.flags.items()},
            "flagged_criteria": list(self.flagged_criteria),
            "reasons": list(self.reasons),
            "error": self.error,
            "judge": self.judge,
            "width": self.size[0] if self.size else None,
            "height": self.size[1] if self.size else None,
        }


def load_calibration(calibration: str | os.PathLike | dict | None) -> dict[str, Any]:
    """Reads and validates a calibration (path, dict, or None for the shipped default)."""
    if calibration is None:
        calibration = DEFAULT_CALIBRATION_PATH
    if isinstance(calibration, (str, os.PathLike)):
        path = Path(calibration)
        if not path.is_file():
            raise FileNotFoundError(f"AQAA calibration {path} not found; create one with QualityAgent.fit(images)")
        try:
            calibration = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"AQAA calibration {path} is not valid JSON: {error}") from error
    criteria = calibration.get("criteria") if isinstance(calibration, dict) else None
    if not isinstance(criteria, dict):
        raise ValueError("AQAA calibration needs a 'criteria' mapping: {criterion: {median, scale, threshold}}")
    missing = [c for c in CRITERIA if c not in criteria]
    if missing:
        raise ValueError(f"AQAA calibration lacks criteria {missing}; refit it with QualityAgent.fit(images)")
    for name, entry in criteria.items():
        for key in ("median", "scale", "threshold"):
            if not isinstance(entry.get(key), (int, float)) or not math.isfinite(entry[key]):
                raise ValueError(f"AQAA calibration: criteria.{name}.{key} must be a finite number")
    return calibration


def fit_calibration(measurements: Sequence[dict[str, float]], k: float = DEFAULT_K,
                    description: str = "") -> dict[str, Any]:
    """Robust thresholds from reference measurements: threshold = median + k * max(1.4826 * MAD, floor).

    Args:
        measurements: one `{criterion: value}` per reference (good-quality) image.
        k: how many robust standard deviations above the median a value must be to be flagged.
        description: free text stored in the JSON (what the reference set was).

    Returns:
        The calibration dict (JSON-serialisable).
    """
    if len(measurements) < 5:
        raise ValueError(f"need at least 5 reference images to calibrate AQAA, got {len(measurements)}")
    criteria = {}
    for name in CRITERIA:
        values = np.array([m[name] for m in measurements], dtype=np.float64)
        median = float(np.median(values))
        scale = max(1.4826 * float(np.median(np.abs(values - median))), MIN_SCALE[name])
        criteria[name] = {"median": median, "scale": scale, "threshold": median + k * scale,
                          "p95": float(np.percentile(values, 95)), "max": float(values.max())}
    return {"version": 1, "k": k, "working_size": WORKING_SIZE, "num_images": len(measurements),
            "description": description, "criteria": criteria}


class QualityAgent:
    """Assesses chest radiographs: `QualityAgent().assess("cxr.png").label -> "high" | "low"`.

    Args:
        calibration: path or dict of a calibration JSON (see `fit`); `None` uses the shipped default,
            fitted on phantom radiographs.
        judge: optional `quality_judge.QualityJudge`, a model path / Hub id to build one from, or None.
        working_size: long side of the working copy for global measurements.
        borderline: interval of the worst criterion's excess (0 = at the reference median, 1 = at its threshold)
            that counts as borderline, the only case in which the judge is consulted.
    """

    def __init__(self, calibration: str | os.PathLike | dict | None = None, judge: Any = None,
                 working_size: int = WORKING_SIZE, borderline: tuple[float, float] = (0.75, 1.25)):
        self.calibration = load_calibration(calibration)
        self.working_size = int(working_size)
        self.borderline = borderline
        if isinstance(judge, (str, os.PathLike)):
            from .quality_judge import QualityJudge

            judge = QualityJudge(str(judge))
        self.judge = judge

    @classmethod
    def from_calibration(cls, path: str | os.PathLike | dict, **kwargs: Any) -> QualityAgent:
        """Builds an agent from a calibration JSON path or dict."""
        return cls(calibration=path, **kwargs)

    def measure(self, image: Any) -> dict[str, float]:
        """Runs the measurement tools on a path, bytes, PIL image or array. Returns criterion -> value."""
        pil = open_image(image)
        return measure_all(prepare(pil, self.working_size))

    def fit(self, images: Iterable[Any], k: float = DEFAULT_K, out: str | os.PathLike | None = None,
            description: str = "") -> dict[str, Any]:
        """Calibrates on reference (good-quality) images and adopts the result.

        Args:
            images: paths, PIL images or arrays of diagnostic-quality radiographs.
            k: threshold = median + k robust standard deviations.
            out: when given, the calibration is also written there as JSON.
            description: what the reference set was (stored in the JSON).

        Returns:
            The calibration dict.
        """
        measurements = [self.measure(image) for image in images]
        calibration = fit_calibration(measurements, k=k, description=description)
        calibration["working_size"] = self.working_size
        self.calibration = calibration
        if out is not None:
            Path(out).write_text(json.dumps(calibration, indent=2) + "\n")
        return calibration

    def _flags(self, values: dict[str, float], extra: dict[str, Any]) -> tuple[dict, list[str], float]:
        flags, reasons, score = {}, [], 1.0
        for name in CRITERIA:
            entry = self.calibration["criteria"][name]
            value, threshold, median = values[name], entry["threshold"], entry["median"]
            excess = max(0.0, (value - median) / max(threshold - median, 1e-9))
            flagged = value > threshold
            score = min(score, 2.0 ** (-(excess**4)))
            flags[name] = {"flagged": flagged, "value": value, "threshold": threshold, "excess": excess}
            if flagged:
                reasons.append(_REASON_TEMPLATES[name].format(v=value, t=threshold, **extra))
        return flags, reasons, float(score)

    def assess(self, image_or_path: Any, path: str | None = None) -> QualityReport:
        """Assesses one image; never raises on bad input (the report carries `error` instead).

        Args:
            image_or_path: a file path, encoded bytes, PIL image or numpy array.
            path: name to record (defaults to the path given).

        Returns:
            A `QualityReport`.
        """
        name = path or (str(image_or_path) if isinstance(image_or_path, (str, os.PathLike)) else None)
        try:
            pil = open_image(image_or_path)
            prepared = prepare(pil, self.working_size)
            values = measure_all(prepared)
        except (ImageLoadError, OSError, ValueError, TypeError) as error:
            message = str(error)
            if name and name not in message:
                message = f"{name}: {message}"
            return QualityReport(path=name, label=None, score=0.0, error=message)
        from .quality_measures import exposure_stats

        mid, white, black = exposure_stats(prepared)
        where = "top" if float(np.mean(prepared.work[: max(2, prepared.work.shape[0] // 25)])) < float(
            np.mean(prepared.work[-max(2, prepared.work.shape[0] // 25):])) else "bottom"
        extra = {"what": "over-exposed, too dark" if mid < 0.5 or black > white else "under-exposed, washed out",
                 "where": where}
        flags, reasons, score = self._flags(values, extra)
        report = QualityReport(path=name, label="low" if any(f["flagged"] for f in flags.values()) else "high",
                               score=score, flags=flags, reasons=reasons, size=prepared.native_size)
        if self.judge is not None and self.is_borderline(report):
            self._consult_judge(report, pil)
        return report

    def is_borderline(self, report: QualityReport) -> bool:
        """True when the tools alone are not decisive: the worst criterion is near its threshold."""
        low, high = self.borderline
        worst = max((f["excess"] for f in report.flags.values()), default=0.0)
        return low <= worst <= high

    def _consult_judge(self, report: QualityReport, image: Any) -> None:
        verdict = self.judge.judge(image, report.flags)
        report.judge = verdict.to_dict()
        if verdict.label is None:
            return
        if verdict.label != report.label:
            report.reasons.append(f"judge ({self.judge.name}) overrides the tools: {verdict.label}"
                                  + (f" ({verdict.reason})" if verdict.reason else ""))
        report.label = verdict.label

    def assess_many(self, paths: Sequence[Any], num_proc: int = 1, progress: bool = True,
                    chunksize: int | None = None) -> list[QualityReport]:
        """Assesses many images, in parallel processes when `num_proc > 1`; order is kept.

        Args:
            paths: file paths (or images when `num_proc == 1`).
            num_proc: worker processes.
            progress: show a tqdm progress bar.
            chunksize: images per task sent to a worker (default: about 4 tasks per worker, at most 64).

        Returns:
            One `QualityReport` per input; unreadable inputs give reports with `error`.
        """
        from tqdm.auto import tqdm

        paths = list(paths)
        bar = tqdm(total=len(paths), desc="AQAA", unit="img", disable=not progress)
        if num_proc <= 1 or len(paths) <= 1:
            reports = []
            for item in paths:
                reports.append(self.assess(item))
                bar.update(1)
            bar.close()
            return reports
        reports: list[QualityReport] = []
        chunksize = chunksize or max(1, min(64, len(paths) // (4 * num_proc)))
        with ProcessPoolExecutor(max_workers=num_proc, initializer=_init_worker,
                                 initargs=(self.calibration, self.working_size)) as pool:
            for report in pool.map(_assess_in_worker, [os.fspath(p) if isinstance(p, os.PathLike) else p
                                                       for p in paths], chunksize=chunksize):
                reports.append(report)
                bar.update(1)
        bar.close()
        if self.judge is not None:
            for report in reports:
                if report.error is None and self.is_borderline(report):
                    try:
                        self._consult_judge(report, open_image(report.path))
                    except ImageLoadError as error:
                        logger.warning("judge skipped for %s: %s", report.path, error)
        return reports


def fit_default_calibration(num_images: int = 240, seed: int = 20240, out: str | os.PathLike | None = None,
                            k: float = DEFAULT_K) -> dict[str, Any]:
    """Refits the shipped default calibration on phantoms (sizes 256-1024, 8/16-bit, PA/AP, random findings).

    Args:
        num_images: reference phantoms.
        seed: base seed of the phantoms.
        out: where to write the JSON (the shipped file is `DEFAULT_CALIBRATION_PATH`).
        k: robust standard deviations above the median for a flag.

    Returns:
        The calibration dict.
    """
    from tqdm.auto import tqdm

    from .phantoms import generate_phantom

    sizes, depths = (256, 512, 384, 1024), (8, 16)
    agent = QualityAgent.__new__(QualityAgent)
    agent.working_size, agent.judge, agent.calibration = WORKING_SIZE, None, None
    images = (generate_phantom(seed + i, size=sizes[i % 4], bit_depth=depths[(i // 4) % 2]).image
              for i in range(num_images))
    description = (f"{num_images} clean phantom radiographs (lrrg.dataset_scripts.phantoms, seeds {seed}.."
                   f"{seed + num_images - 1}, sizes {sizes}, bit depths {depths}, random findings and views)")
    return agent.fit(tqdm(images, total=num_images, desc="calibrating AQAA"), k=k, out=out, description=description)


_WORKER_AGENT: QualityAgent | None = None


def _init_worker(calibration: dict, working_size: int) -> None:
    global _WORKER_AGENT
    _WORKER_AGENT = QualityAgent(calibration=calibration, working_size=working_size)


def _assess_in_worker(item: Any) -> QualityReport:
    assert _WORKER_AGENT is not None
    return _WORKER_AGENT.assess(item)


__all__ = [
    "AQAA_VERSION",
    "CRITERIA",
    "CRITERION_DESCRIPTIONS",
    "DEFAULT_CALIBRATION_PATH",
    "DEFAULT_K",
    "MIN_SCALE",
    "QualityAgent",
    "QualityReport",
    "fit_calibration",
    "fit_default_calibration",
    "load_calibration",
]
