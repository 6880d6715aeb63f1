"""`lrrg build`: build the LRRG benchmark (AQAA quality labels, HQ/LQ/synthetic test splits) from a source."""

from __future__ import annotations

import argparse

SOURCES = ("mimic-cxr", "iu-xray", "folder", "phantom")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Registers `lrrg build` (light: nothing heavy is imported here)."""
    parser = subparsers.add_parser(
        "build",
        help="build the LRRG benchmark dataset from a source",
        description=(
            "Runs AQAA on every image of a source and writes a Hugging Face dataset folder (Parquet + card) "
            "with the splits train, validation, test, test_hq, test_lq and test_synthetic."
        ),
    )
    parser.add_argument("--source", choices=SOURCES, required=True, help="where the studies come from")
    parser.add_argument("--root", help="the source's folder (MIMIC-CXR-JPG root, IU X-ray reports, image folder)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--num-studies", type=int, default=None, help="phantom studies to make (default 500)")
    parser.add_argument("--max-studies", type=int, default=None, help="read at most this many studies of a real source")
    parser.add_argument("--image-size", type=int, default=256, help="phantom image side in pixels (default 256)")
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of splits, phantoms and degradations (default 0)")
    parser.add_argument("--images-dir", help="IU X-ray: folder of the PNG images (default ROOT/images)")
    parser.add_argument("--reports-root", help="MIMIC-CXR: folder of files/pXX/.../sXXXXXXXX.txt (default ROOT)")
    parser.add_argument("--views", default="PA,AP", help="MIMIC-CXR: accepted views, best first (default PA,AP)")
    parser.add_argument("--labels", choices=("chexpert", "negbio"), default="chexpert",
                        help="MIMIC-CXR: label table, mimic-cxr-2.0.0-chexpert or -negbio (default chexpert)")
    parser.add_argument("--lq-fraction", type=float, default=None, help="phantoms: fraction degraded at acquisition")
    parser.add_argument("--synthetic-kinds", default=None, help="comma-separated degradation kinds (default all)")
    parser.add_argument("--synthetic-severity", default="3", help="severity or comma-separated severities (default 3)")
    parser.add_argument("--configs", default="full,labels", help="configs to write: full, labels (default both)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the result to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create a private repo")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)
    return parser


def _source_options(args: argparse.Namespace) -> dict:
    options: dict = {}
    if args.source == "iu-xray" and args.images_dir:
        options["images_dir"] = args.images_dir
    if args.source == "mimic-cxr":
        options["view_priority"] = tuple(v.strip() for v in args.views.split(",") if v.strip())
        options["label_source"] = args.labels
        if args.reports_root:
            options["reports_root"] = args.reports_root
    if args.source == "phantom" and args.lq_fraction is not None:
        options["lq_fraction"] = args.lq_fraction
    return options


def run(args: argparse.Namespace) -> int:
    """Builds the benchmark; prints the summary tables and where the dataset is."""
    from lrrg.dataset_scripts.builder import build_lrrg

    if args.source != "phantom" and not args.root:
        raise SystemExit(f"lrrg build: --source {args.source} needs --root PATH (the dataset's folder)")
    try:
        severities = [int(s) for s in args.synthetic_severity.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"lrrg build: --synthetic-severity must be integers 1-5, got {args.synthetic_severity!r}") from None
    kinds = [k.strip() for k in args.synthetic_kinds.split(",") if k.strip()] if args.synthetic_kinds else None
    try:
        dataset = build_lrrg(
            args.source,
            args.out,
            root=args.root,
            num_studies=args.num_studies,
            num_proc=args.num_proc,
            seed=args.seed,
            source_options=_source_options(args),
            image_size=args.image_size,
            max_studies=args.max_studies,
            synthetic_kinds=kinds,
            synthetic_severities=severities,
            configs=[c.strip() for c in args.configs.split(",") if c.strip()],
            push_to_hub=args.push_to_hub,
            private=args.private,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"lrrg build: {error}") from None
    if not any(len(dataset[split]) for split in ("train", "validation", "test")):
        import json
        from pathlib import Path

        skipped = json.loads((Path(args.out) / "build_summary.json").read_text()).get("skipped", {})
        reasons = ", ".join(f"{count} {reason}" for reason, count in skipped.items()) or "no studies in the source"
        print(f"lrrg build: no study entered the benchmark ({reasons}); see the messages above and "
              f"{Path(args.out) / 'skipped.jsonl'}, fix the inputs and rerun")
        return 1
    sizes = ", ".join(f"{split} {len(part)}" for split, part in dataset.items())
    print(f"LRRG benchmark written to {args.out} ({sizes})")
    return 0


__all__ = ["add_parser", "run"]
