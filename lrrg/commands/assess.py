"""`lrrg assess`: run AQAA over image files and write one quality record per image (JSONL or CSV)."""

from __future__ import annotations

import argparse
import glob
import json
import os
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lrrg assess` (light imports only)."""
    parser = subparsers.add_parser(
        "assess",
        help="assess chest radiograph quality with AQAA",
        description="Assess the image quality of chest radiographs (AQAA). Unreadable files become records "
        "with an error; the run continues.",
    )
    parser.add_argument("inputs", nargs="+", metavar="PATH_OR_GLOB",
                        help="image files, folders (searched recursively for images) or glob patterns")
    parser.add_argument("--out", default=None, help="write records to this .jsonl or .csv file")
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--judge", default=None, metavar="MODEL",
                        help="local path or Hub id of an image-text-to-text model consulted on borderline cases")
    parser.add_argument("--calibration", default=None, help="calibration JSON (default: shipped phantom calibration)")
    parser.add_argument("--fit", default=None, metavar="OUT_JSON",
                        help="instead of assessing, calibrate on the inputs (good-quality references) and write JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Expands globs and folders into a sorted, de-duplicated list of paths (non-images in globs are kept)."""
    paths: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = [str(p) for p in sorted(Path(item).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item, recursive=True) if not os.path.isdir(p))
        else:
            found = [item]  # a missing file becomes an error record, not a silent skip
        paths.extend(found)
    return list(dict.fromkeys(paths))


def _write(records: list[dict], out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        import pandas as pd

        rows = []
        for record in records:
            row = {k: record[k] for k in ("path", "quality_label", "quality_score", "error", "width", "height")}
            row["flagged_criteria"] = ";".join(record["flagged_criteria"])
            row["reasons"] = " | ".join(record["reasons"])
            for name, flag in record["flags"].items():
                row[f"{name}_value"] = flag["value"]
                row[f"{name}_flagged"] = flag["flagged"]
            rows.append(row)
        pd.DataFrame(rows).astype({"width": "Int64", "height": "Int64"}).to_csv(path, index=False)
    else:
        with path.open("w") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")


def summary_table(records: list[dict]):
    """A rich table: counts per label and per flagged criterion."""
    from collections import Counter

    from rich.table import Table

    from lrrg.dataset_scripts.aqaa import CRITERIA

    labels = Counter(r["quality_label"] if r["error"] is None else "error" for r in records)
    flags = Counter(c for r in records for c in r["flagged_criteria"])
    table = Table(title=f"AQAA summary ({len(records)} images)")
    table.add_column("group")
    table.add_column("name")
    table.add_column("count", justify="right")
    for name in ("high", "low", "error"):
        table.add_row("label", name, str(labels.get(name, 0)))
    for name in CRITERIA:
        table.add_row("flag", name, str(flags.get(name, 0)))
    return table


def _fit(agent, paths: list[str], out: str, console) -> int:
    """Calibrates on the readable inputs; unreadable ones are listed and left out."""
    from lrrg.dataset_scripts.image_io import ImageLoadError, open_image

    images, skipped = [], []
    for path in paths:
        try:
            images.append(open_image(path))
        except ImageLoadError as error:
            skipped.append(str(error))
    for message in skipped:
        console.print(f"[yellow]skipped reference: {message}[/yellow]")
    try:
        calibration = agent.fit(images, out=out, description=f"lrrg assess --fit on {len(images)} images")
    except ValueError as error:
        console.print(f"[red]lrrg assess --fit: {error}; pass more good-quality radiographs[/red]")
        return 2
    console.print(f"wrote calibration of {calibration['num_images']} images to {out}"
                  + (f" ({len(skipped)} unreadable inputs skipped)" if skipped else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs the assessment (or the calibration) and prints the summary."""
    from rich.console import Console

    from lrrg.dataset_scripts.aqaa import QualityAgent

    console = Console()
    paths = expand_inputs(args.inputs)
    if not paths:
        console.print(f"[red]lrrg assess: no files match {args.inputs}; check the paths and quote glob patterns "
                      "(e.g. 'films/*.png') so that the shell does not expand them[/red]")
        return 2
    if args.num_proc < 1:
        console.print("[red]lrrg assess: --num-proc must be >= 1[/red]")
        return 2
    try:
        agent = QualityAgent(calibration=args.calibration, judge=None if args.fit else args.judge)
    except (OSError, ValueError, RuntimeError) as error:
        console.print(f"[red]lrrg assess: {error}[/red]")
        return 2
    if args.fit:
        return _fit(agent, paths, args.fit, console)
    reports = agent.assess_many(paths, num_proc=args.num_proc, progress=not args.no_progress)
    records = [report.to_dict() for report in reports]
    if args.out:
        _write(records, args.out)
        console.print(f"wrote {len(records)} records to {args.out}")
    else:
        for record in records:
            console.print_json(json.dumps(record))
    console.print(summary_table(records))
    return 0


__all__ = ["add_parser", "expand_inputs", "run", "summary_table"]
