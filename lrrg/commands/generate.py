"""`lrrg generate`: write a report (findings + impression) for each chest radiograph."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Registers `lrrg generate` (imports nothing heavy)."""
    parser = subparsers.add_parser(
        "generate",
        help="generate a report for each image",
        description="Generate a radiology report (FINDINGS + IMPRESSION) for each image. Research use only.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, 16-bit PNG, TIFF...)")
    parser.add_argument("--model", required=True, help="a saved LRRG model folder or a Hugging Face Hub id")
    parser.add_argument("--json", action="store_true", help="print JSON (one list of records) instead of text")
    parser.add_argument("--out", default=None, help="also write the results to this file (JSON if it ends in .json)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="report length cap in tokens")
    parser.add_argument("--num-beams", type=int, default=1, help="beam search width (1 = greedy)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per generate call")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.set_defaults(func=run)
    return parser


def load_model(name_or_path: str, device: str = "cpu") -> tuple[Any, Any]:
    """Loads an LRRG model and processor from a folder or Hub id, with a clear error when it is missing."""
    from lrrg.modeling_lrrg import LrrgForConditionalGeneration, LrrgProcessor

    looks_local = os.path.sep in name_or_path or name_or_path.startswith(".") or name_or_path.count("/") > 1
    if looks_local and not os.path.isdir(name_or_path):
        raise FileNotFoundError(
            f"Model folder not found: {name_or_path}. Pass a folder written by `save_pretrained` / `lrrg train`, "
            "or a Hugging Face Hub id."
        )
    try:
        model = LrrgForConditionalGeneration.from_pretrained(name_or_path).to(device).eval()
        processor = LrrgProcessor.from_pretrained(name_or_path)
    except OSError as error:
        raise FileNotFoundError(
            f"Cannot load an LRRG model from {name_or_path!r}: {error}. Pass a folder written by `save_pretrained` "
            "/ `lrrg train`, or a reachable Hub id."
        ) from error
    return model, processor


def _read_image(path: str) -> Any:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.copy()


def generate_reports(
    model: Any, processor: Any, paths: list[str], max_new_tokens: int = 128, num_beams: int = 1, batch_size: int = 8
) -> list[dict[str, Any]]:
    """Returns one record per path: `image`, `report`, `findings`, `impression`, `error` (None when it worked)."""
    import torch
    from tqdm.auto import tqdm

    from lrrg.modeling_lrrg import split_report

    records: list[dict[str, Any]] = [{"image": p, "report": None, "findings": None, "impression": None,
                                      "error": None} for p in paths]
    loaded: list[tuple[int, Any]] = []
    for index, path in enumerate(paths):
        try:
            image = _read_image(path)
            processor.image_processor([image])  # surfaces empty / wrong-shape images per file
            loaded.append((index, image))
        except Exception as error:  # noqa: BLE001 - one unreadable file must not stop the run
            records[index]["error"] = f"cannot read {path}: {error}"
            logger.warning(records[index]["error"])
    for start in tqdm(range(0, len(loaded), batch_size), desc="generating", disable=len(loaded) <= batch_size):
        chunk = loaded[start : start + batch_size]
        inputs = processor(images=[image for _, image in chunk], return_tensors="pt").to(model.device)
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False)
        for (index, _), report in zip(chunk, processor.batch_decode(output, skip_special_tokens=True)):
            findings, impression = split_report(report)
            records[index].update(report=report, findings=findings, impression=impression)
    return records


def format_text(records: list[dict[str, Any]]) -> str:
    """Human-readable listing of the records."""
    blocks = []
    for record in records:
        if record["error"]:
            blocks.append(f"== {record['image']} ==\nERROR: {record['error']}")
        else:
            blocks.append(
                f"== {record['image']} ==\nFINDINGS: {record['findings']}\nIMPRESSION: {record['impression']}"
            )
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    """Handler of `lrrg generate`; returns 0 when every image got a report, 1 when some failed, 2 on no model."""
    for name in ("max_new_tokens", "num_beams", "batch_size"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    try:
        model, processor = load_model(args.model, args.device)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    records = generate_reports(model, processor, list(args.images), args.max_new_tokens, args.num_beams,
                               args.batch_size)
    text = json.dumps(records, indent=2) if args.json else format_text(records)
    print(text)
    if args.out:
        as_json = args.json or args.out.endswith(".json")
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write((json.dumps(records, indent=2) if as_json else format_text(records)) + "\n")
    return 1 if any(record["error"] for record in records) else 0


__all__ = ["add_parser", "run", "generate_reports", "load_model", "format_text"]
