"""What a build produced: counts per split and quality label, flag frequencies, skips; as rich and Markdown tables."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .lrrg_features import QUALITY_LABELS, SPLITS


@dataclass
class BuildSummary:
    """Statistics of one build (saved as `build_summary.json`, shown as tables, written into the card)."""

    source: str = ""
    description: str = ""
    seed: int = 0
    num_proc: int = 1
    split_fractions: list[float] = field(default_factory=list)
    synthetic_kinds: list[str] = field(default_factory=list)
    synthetic_severities: list[int] = field(default_factory=list)
    aqaa_fingerprint: str = ""
    studies_seen: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {s: dict.fromkeys(QUALITY_LABELS, 0) for s in SPLITS})
    flag_counts: dict[str, int] = field(default_factory=dict)
    synthetic_flag_counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    assessed: int = 0
    cached: int = 0
    seconds: float = 0.0

    def count(self, split: str, label: str) -> None:
        """Counts one row of `split` with quality `label`."""
        self.counts[split][label] = self.counts[split].get(label, 0) + 1

    def add_flags(self, flags: list[str], synthetic: bool = False) -> None:
        """Counts the flagged criteria of one image."""
        target = self.synthetic_flag_counts if synthetic else self.flag_counts
        for name in flags:
            target[name] = target.get(name, 0) + 1

    def skip(self, reason: str, count: int = 1) -> None:
        """Counts skipped studies by reason."""
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def rows(self, split: str) -> int:
        """Rows in a split."""
        return sum(self.counts.get(split, {}).values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    def save(self, path: str | Path) -> None:
        """Writes `build_summary.json`."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BuildSummary:
        """Reads a saved summary."""
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def rich_tables(self) -> list[Any]:
        """`rich` tables: studies per split x label, flag frequencies, skipped studies by reason."""
        from rich.table import Table

        splits = Table(title=f"LRRG benchmark from {self.source}: images per split and AQAA label")
        for name in ("split", *QUALITY_LABELS, "total"):
            splits.add_column(name, justify="left" if name == "split" else "right")
        for split in SPLITS:
            counts = self.counts.get(split, {})
            splits.add_row(split, *(str(counts.get(label, 0)) for label in QUALITY_LABELS), str(self.rows(split)))
        flags = Table(title="AQAA flags (images of train / validation / test; synthetic split apart)")
        flags.add_column("criterion")
        flags.add_column("images", justify="right")
        flags.add_column("synthetic", justify="right")
        for name in sorted(set(self.flag_counts) | set(self.synthetic_flag_counts)):
            flags.add_row(name, str(self.flag_counts.get(name, 0)), str(self.synthetic_flag_counts.get(name, 0)))
        skipped = Table(title=f"Skipped studies ({sum(self.skipped.values())} of {self.studies_seen})")
        skipped.add_column("reason")
        skipped.add_column("studies", justify="right")
        for reason, count in Counter(self.skipped).most_common():
            skipped.add_row(reason, str(count))
        return [splits, flags, skipped]

    def print(self, console: Any = None) -> None:
        """Prints the tables to `console` (default: a rich console on stderr, so stdout stays clean)."""
        from rich.console import Console

        console = console or Console(stderr=True)
        for table in self.rich_tables():
            console.print(table)
        console.print(
            f"AQAA ran on {self.assessed} images, {self.cached} came from the cache; {self.seconds:.1f} s "
            f"with {self.num_proc} process(es)."
        )

    def markdown(self) -> str:
        """The same statistics as Markdown tables (for the dataset card)."""
        lines = ["| split | " + " | ".join(QUALITY_LABELS) + " | total |", "|---|" + "---:|" * (len(QUALITY_LABELS) + 1)]
        for split in SPLITS:
            counts = self.counts.get(split, {})
            cells = " | ".join(str(counts.get(label, 0)) for label in QUALITY_LABELS)
            lines.append(f"| `{split}` | {cells} | {self.rows(split)} |")
        lines += ["", "| AQAA criterion | flagged images | flagged synthetic images |", "|---|---:|---:|"]
        for name in sorted(set(self.flag_counts) | set(self.synthetic_flag_counts)):
            lines.append(f"| {name} | {self.flag_counts.get(name, 0)} | {self.synthetic_flag_counts.get(name, 0)} |")
        lines += ["", "| skipped because | studies |", "|---|---:|"]
        for reason, count in Counter(self.skipped).most_common() or [("(nothing skipped)", 0)]:
            lines.append(f"| {reason} | {count} |")
        return "\n".join(lines)


__all__ = ["BuildSummary"]
