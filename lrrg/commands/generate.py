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


def _check_model_folder(folder: str) -> None:
    """Refuses, with the reason, a folder that holds no LRRG model (before transformers fails obscurely)."""
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"The folder {folder} holds no config.json, so it is not a saved model. Pass a folder written by "
            "`save_pretrained` / `lrrg train` / `lrrg benchmark` (under runs/<name>/models/), or a Hub id."
        )
    try:
        with open(config_path, encoding="utf-8") as handle:
            model_type = json.load(handle).get("model_type")
    except (OSError, ValueError, AttributeError) as error:
        raise FileNotFoundError(f"Cannot read {config_path}: {error}.") from error
    if model_type != "lrrg":
        raise FileNotFoundError(
            f"The folder {folder} holds a `{model_type}` model, not an LRRG model (model_type `lrrg`). Pass a "
            "folder written by `lrrg train` / `lrrg benchmark`, or a Hub id of an LRRG model."
        )


def load_model(name_or_path: str, device: str = "cpu") -> tuple[Any, Any]:
    """Loads an LRRG model and processor from a folder or Hub id, with a clear error when it is missing."""
    from lrrg.modeling_lrrg import LrrgForConditionalGeneration, LrrgProcessor

    folder = os.path.expanduser(name_or_path)
    is_folder = os.path.isdir(folder)
    # a Hub id is `name` or `owner/name`; anything else that is not a folder is a mistyped path
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path
    if not is_folder and looks_local:
        raise FileNotFoundError(
            f"Model folder not found: {name_or_path}. Pass a folder written by `save_pretrained` / `lrrg train`, "
            "or a Hugging Face Hub id."
        )
    if is_folder:
        _check_model_folder(folder)
    location = folder if is_folder else name_or_path
    try:
        model = LrrgForConditionalGeneration.from_pretrained(location)
        processor = LrrgProcessor.from_pretrained(location)
    except (OSError, ValueError) as error:
        where = "folder" if is_folder else "Hub id (offline, misspelt, or not an LRRG model?)"
        raise FileNotFoundError(
            f"Cannot load an LRRG model from the {where} {name_or_path!r}: {str(error).rstrip('.')}. Pass a folder "
            "written by `save_pretrained` / `lrrg train`, or a reachable Hub id."
        ) from error
    try:
        model = model.to(device).eval()
    except (RuntimeError, AssertionError, ValueError) as error:
        raise FileNotFoundError(f"Cannot put the model on device {device!r}: {error}. Try --device cpu.") from error
    return model, processor


def _read_image(path: str, processor: Any) -> Any:
    """Loads one image file, refusing what the model cannot read with a sentence that names the file."""
    from lrrg.dataset_scripts.image_io import ImageLoadError, open_image

    try:
        image = open_image(path)  # missing, empty, truncated, not an image, decompression bomb
    except ImageLoadError as error:
        raise ValueError(str(error)) from error
    try:
        processor.image_processor.to_unit_range(image)  # empty, too small, unsupported mode or values
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return image


def report_token_budget(model: Any, prompt_length: int, max_new_tokens: int) -> int:
    """`max_new_tokens`, lowered so that prompt + report fit the language model's positions (when it has a limit)."""
    limit = getattr(model.config.text_config, "max_position_embeddings", None)
    if not isinstance(limit, int) or prompt_length + max_new_tokens <= limit:
        return max_new_tokens
    budget = max(1, limit - prompt_length)
    logger.warning(
        f"--max-new-tokens {max_new_tokens} does not fit: the language model has {limit} positions and the prompt "
        f"takes {prompt_length}; generating at most {budget} tokens."
    )
    return budget


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
            loaded.append((index, _read_image(path, processor)))
        except ValueError as error:
            records[index]["error"] = str(error)
            logger.warning(records[index]["error"])
        except Exception as error:  # noqa: BLE001 - one unreadable file must not stop the run
            records[index]["error"] = f"{path}: cannot be read ({type(error).__name__}: {error})"
            logger.warning(records[index]["error"])
    for start in tqdm(range(0, len(loaded), batch_size), desc="generating", disable=len(loaded) <= batch_size):
        chunk = loaded[start : start + batch_size]
        inputs = processor(images=[image for _, image in chunk], return_tensors="pt").to(model.device)
        budget = report_token_budget(model, inputs["input_ids"].shape[1], max_new_tokens)
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=budget, num_beams=num_beams, do_sample=False)
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


__all__ = ["add_parser", "run", "generate_reports", "load_model", "format_text", "report_token_budget"]
