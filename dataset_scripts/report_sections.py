"""FINDINGS / IMPRESSION extraction from free-text radiology reports (MIMIC-CXR conventions).

Follows the way the field prepares MIMIC-CXR reports (the `section_parser` of the MIMIC-CXR code
repository, used by R2Gen-style pipelines): a section starts at an all-capitals header ending with a
colon at the start of a line; header variants and misspellings are normalised ("FINDINGS AND
IMPRESSION", "CONCLUSION", "IMPRESSON"...), a header naming a main section is that section and a view
title ("CHEST, PA AND LATERAL:") holds findings; empty sections are dropped and the *last* section of a
kind wins; when neither FINDINGS nor IMPRESSION exists the last paragraph stands in for the findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A header: at the start of a line, capitals / spaces / a few punctuation marks, then a colon.
_HEADER = re.compile(r"(?m)^[ \t]*([A-Z][A-Z ()/,&-]{1,60}?)[ \t]*:")
_WHITESPACE = re.compile(r"\s+")

# Normalised section names (the frequent headers of MIMIC-CXR and their misspellings, as the
# `section_parser` of the MIMIC-CXR code repository maps them); anything else goes through
# `_MAIN_SECTIONS` and `_VIEW_TITLE` below or keeps its lower-cased header.
_SECTION_ALIASES: dict[str, str] = {
    "findings": "findings",
    "finding": "findings",
    "reference findings": "findings",
    "chest, two views": "findings",
    "findings and impression": "impression",
    "findings/impression": "impression",
    "findings/ impression": "impression",
    "impression and findings": "impression",
    "impression": "impression",
    "impressions": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "summary": "impression",
    "final impression": "impression",
    "opinion": "impression",
    "comparison": "comparison",
    "comparisons": "comparison",
    "comparison exam": "comparison",
    "comparison film": "comparison",
    "reference exam": "comparison",
    "indication": "indication",
    "indications": "indication",
    "clinical indication": "indication",
    "reason for exam": "indication",
    "reason for examination": "indication",
    "history": "history",
    "clinical history": "history",
    "clinical information": "history",
    "patient history": "history",
    "pfi": "history",
    "technique": "technique",
    "examination": "examination",
    "exam": "examination",
    "type of examination": "examination",
    "final report": "final report",
    "wet read": "wet read",
    "wetread": "wet read",
    "note": "note",
    "notification": "notification",
    "recommendation": "recommendation",
    "recommendations": "recommendation",
    "recommendation(s)": "recommendation",
    "addendum": "addendum",
    "comment": "comment",
    "date": "date",
}
_MISSPELLINGS: dict[str, tuple[str, ...]] = {
    "impression": ("impresson", "imprression", "imoression", "impressoin", "imprssion", "impresion", "imperssion",
                   "mpression", "impession"),
    "findings": ("findins", "findindgs", "findgings", "findngs", "findnings", "finidngs"),
    "indication": ("idication",),
    "comparison": ("comparision", "comparsion", "comparrison", "comparisions"),
}
for _name, _variants in _MISSPELLINGS.items():
    _SECTION_ALIASES.update(dict.fromkeys(_variants, _name))
# A header that names one of these is that section ("IMPRESSION AND PLAN" is the impression).
_MAIN_SECTIONS = ("impression", "findings", "history", "comparison", "addendum")
# A header that is the title of the views ("CHEST, PA AND LATERAL:", "PORTABLE AP CHEST:") holds findings.
_VIEW_TITLE = re.compile(
    r"chest|portable|pa and lat|lateral and pa|ap and lateral|lateral and ap|frontal and|two views|frontal view"
    r"|pa view|ap view|one view|lateral view|bone window|frontal upright|frontal semi-upright|ribs"
)


@dataclass(frozen=True)
class ReportSections:
    """The parts of a report that report generation uses.

    Attributes:
        findings: FINDINGS text, or the last-paragraph fallback ("" when none).
        impression: IMPRESSION text ("" when none).
        findings_source: where `findings` came from: `"findings"`, `"last_paragraph"` or `"none"`.
        sections: every normalised section name -> its (last) text.
    """

    findings: str
    impression: str
    findings_source: str
    sections: dict[str, str]


def clean_section_text(text: str) -> str:
    """Collapses whitespace (reports wrap lines at fixed widths)."""
    return _WHITESPACE.sub(" ", text or "").strip()


def normalize_section_name(header: str) -> str:
    """Maps a header such as `FINDINGS AND IMPRESSION` onto its canonical section name."""
    key = _WHITESPACE.sub(" ", header.strip().lower())
    if key in _SECTION_ALIASES:
        return _SECTION_ALIASES[key]
    for name in _MAIN_SECTIONS:
        if name in key:
            return name
    return "findings" if _VIEW_TITLE.search(key) else key


def split_sections(text: str) -> list[tuple[str, str]]:
    """Splits a report into `(normalised section name, raw text)` pairs in document order.

    Text before the first header is returned as the `preamble` section.
    """
    pieces: list[tuple[str, str]] = []
    matches = list(_HEADER.finditer(text))
    start = matches[0].start() if matches else len(text)
    pieces.append(("preamble", text[:start]))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        pieces.append((normalize_section_name(match.group(1)), text[match.end() : end]))
    return pieces


# Sections that never stand in for FINDINGS.
_META_SECTIONS = frozenset(
    {"comparison", "indication", "history", "technique", "examination", "final report", "wet read",
     "note", "notification", "recommendation", "reason for exam", "reason for examination"}
)


def _last_paragraph(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    if not paragraphs:
        return ""
    last = paragraphs[-1]
    header = _HEADER.match(last)
    if header:
        if normalize_section_name(header.group(1)) in _META_SECTIONS:
            return ""
        last = last[header.end() :]
    return clean_section_text(last)


def extract_sections(text: str) -> ReportSections:
    """Extracts FINDINGS and IMPRESSION from a free-text report.

    When FINDINGS is missing but IMPRESSION exists, findings stay "" (the impression carries the
    report); when both are missing, the last paragraph stands in for FINDINGS unless it is a
    comparison / indication / technique paragraph.

    Args:
        text: the whole report as stored (e.g. MIMIC-CXR `sXXXXXXXX.txt`).

    Returns:
        A `ReportSections`; both texts are "" when the report has neither section nor a usable
        last paragraph.
    """
    sections: dict[str, str] = {}
    for name, body in split_sections(text or ""):
        cleaned = clean_section_text(body)
        if cleaned:
            sections[name] = cleaned  # the last section of a kind wins
    impression = sections.get("impression", "")
    findings = sections.get("findings", "")
    source = "findings" if findings else "none"
    if not findings and not impression:
        findings = _last_paragraph(text or "")
        source = "last_paragraph" if findings else "none"
    return ReportSections(findings=findings, impression=impression, findings_source=source, sections=sections)


__all__ = ["ReportSections", "clean_section_text", "extract_sections", "normalize_section_name", "split_sections"]
