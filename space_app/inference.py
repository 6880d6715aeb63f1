"""The Space's inference functions: image in, quality verdict + report out (pure; the model is loaded once)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr
import torch
from PIL import Image

from .inputs import colour_warning, load_upload, to_display
from .localization import localise
from .model_loading import NO_MODEL_MESSAGE, GeneratedReport, ReportGenerator
from .settings import AppSettings

logger = logging.getLogger(__name__)

CRITERIA_HEADERS = ["criterion", "measurement", "threshold", "flagged", "what it measures"]
STRESS_SEED = 0


def _descriptions() -> dict[str, str]:
    try:
        from lrrg.dataset_scripts.quality_measures import CRITERION_DESCRIPTIONS
    except ImportError:  # AQAA's tool descriptions are optional decoration of the table
        return {}
    return dict(CRITERION_DESCRIPTIONS)


def _flag_entry(entry: Any) -> dict[str, Any]:
    return entry if isinstance(entry, dict) else dict(vars(entry))


def verdict_markdown(quality: Any, notes: list[str] | tuple[str, ...] = ()) -> str:
    """The quality verdict in words: label, score, flagged criteria, AQAA's reasons and any warning notes."""
    label = (quality.label or "unknown").upper()
    lines = [f"### Quality: **{label}** (score {float(quality.score):.2f})"]
    flagged = [name for name, entry in quality.flags.items() if _flag_entry(entry).get("flagged")]
    lines.append(
        "Flagged: " + ", ".join(name.replace("_", " ") for name in flagged) if flagged else "No criterion flagged."
    )
    lines.extend(f"- {reason}" for reason in quality.reasons)
    lines.extend(f"\n> **Warning:** {note}" for note in notes)
    return "\n".join(lines)


def criteria_rows(quality: Any) -> list[list[Any]]:
    """One row per criterion: name, measurement, threshold, flagged (yes / no), what it measures."""
    descriptions = _descriptions()
    rows = []
    for name, raw in quality.flags.items():
        entry = _flag_entry(raw)
        threshold = entry.get("threshold")
        rows.append([
            name.replace("_", " "),
            round(float(entry.get("value", float("nan"))), 4),
            None if threshold is None else round(float(threshold), 4),
            "yes" if entry.get("flagged") else "no",
            descriptions.get(name, ""),
        ])
    return rows


def criteria_markdown(rows: list[list[Any]]) -> str:
    """The criteria as a Markdown table (flagged rows in bold): light to render, readable at any width."""
    lines = ["| " + " | ".join(CRITERIA_HEADERS) + " |", "|" + "---|" * len(CRITERIA_HEADERS)]
    for name, value, threshold, flagged, description in rows:
        cells = [name, f"{value:.4g}", "" if threshold is None else f"{threshold:.4g}", flagged, description]
        if flagged == "yes":
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_info_markdown(report: GeneratedReport | None, generator: ReportGenerator | None) -> str:
    """Which model wrote the report and how long it took (or which command creates a model)."""
    if generator is None or report is None:
        return f"**No report.** {NO_MODEL_MESSAGE}"
    line = f"Generated in {report.seconds:.2f} s by `{report.model_name}`"
    if generator.card_url:
        line += f" ([model card]({generator.card_url}))"
    return line + ". *Research use only: not for diagnosis.*"


def report_markdown(report: GeneratedReport | None, generator: ReportGenerator | None) -> str:
    """Findings, impression and provenance in one block (used side by side in the stress test)."""
    if generator is None or report is None:
        return f"**No report.** {NO_MODEL_MESSAGE}"
    findings = report.findings or "(empty)"
    impression = report.impression or "(empty)"
    return (f"**FINDINGS:** {findings}\n\n**IMPRESSION:** {impression}\n\n"
            f"*{report.seconds:.2f} s, `{report.model_name}`*")


@dataclass
class SpaceEngine:
    """What the Space's events call: the quality agent and the report model, loaded once.

    Args:
        agent: an AQAA `QualityAgent`.
        generator: the report model, or `None` (the quality panel still works).
        settings: upload limits and generation settings.
    """

    agent: Any
    generator: ReportGenerator | None
    settings: AppSettings

    def _assess(self, image: Image.Image) -> Any:
        quality = self.agent.assess(image)
        if getattr(quality, "error", None):
            raise gr.Error(f"The quality check could not run on this image: {quality.error}")
        return quality

    def _report(self, image: Image.Image) -> GeneratedReport | None:
        if self.generator is None:
            return None
        try:
            return self.generator.generate(image)
        except (ValueError, RuntimeError) as error:
            logger.exception("Report generation failed")
            raise gr.Error(f"The model could not write a report for this image: {error}") from error

    def load(self, upload: Any) -> tuple[Image.Image, list[str]]:
        """The upload as a PIL image plus warning notes (also shown as gradio warnings)."""
        image = load_upload(upload, self.settings)
        notes = [note for note in (colour_warning(image),) if note]
        for note in notes:
            gr.Warning(note)
        return image, notes

    @torch.inference_mode()
    def analyze(self, upload: Any) -> tuple[Any, ...]:
        """Quality verdict and report of one image.

        Args:
            upload: a file path (what `gr.File` passes), a PIL image or a numpy array.

        Returns:
            `(preview PIL image, verdict markdown, criteria table markdown, [(localisation picture, caption)], findings,
            impression, report info markdown, quality dict)`.

        Raises:
            gr.Error: the upload cannot be assessed (see `load_upload`) or the model failed on it.
        """
        image, notes = self.load(upload)
        quality = self._assess(image)
        report = self._report(image)
        return (
            to_display(image),
            verdict_markdown(quality, notes),
            criteria_markdown(criteria_rows(quality)),
            localise(image, quality.flags),
            report.findings if report else "",
            report.impression if report else "",
            report_info_markdown(report, self.generator),
            quality.to_dict(),
        )

    @torch.inference_mode()
    def stress(self, upload: Any, kind: str, severity: int | float) -> tuple[Any, ...]:
        """Degrades the image and compares verdict and report before and after.

        Args:
            upload: as in `analyze`.
            kind: one of `DEGRADATION_KINDS`.
            severity: 1 (barely visible) .. 5 (non-diagnostic).

        Returns:
            `(original preview, degraded preview, original verdict md, degraded verdict md, original report md,
            degraded report md, [(localisation picture, caption)] of the degraded image, summary dict)`.
        """
        from lrrg.dataset_scripts.degradations import DEGRADATION_KINDS, degrade

        if kind not in DEGRADATION_KINDS:
            raise gr.Error(f"Unknown degradation {kind!r}: choose one of {', '.join(DEGRADATION_KINDS)}.")
        if severity is None or float(severity) != int(float(severity)) or not 1 <= int(float(severity)) <= 5:
            raise gr.Error(f"Severity must be a whole number from 1 (barely visible) to 5, got {severity!r}.")
        image, notes = self.load(upload)
        degraded = degrade(image, kind, int(float(severity)), seed=STRESS_SEED)
        before, after = self._assess(image), self._assess(degraded)
        report_before, report_after = self._report(image), self._report(degraded)
        summary = {
            "degradation": {"kind": kind, "severity": int(float(severity)), "seed": STRESS_SEED},
            "original": {"quality": before.to_dict(), "report": report_before.text if report_before else None},
            "degraded": {"quality": after.to_dict(), "report": report_after.text if report_after else None},
        }
        return (
            to_display(image),
            to_display(degraded),
            verdict_markdown(before, notes),
            verdict_markdown(after),
            report_markdown(report_before, self.generator),
            report_markdown(report_after, self.generator),
            localise(degraded, after.flags),
            summary,
        )


__all__ = [
    "CRITERIA_HEADERS",
    "SpaceEngine",
    "criteria_markdown",
    "criteria_rows",
    "report_info_markdown",
    "report_markdown",
    "verdict_markdown",
]
