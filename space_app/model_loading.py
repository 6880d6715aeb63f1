"""Finding and loading the Space's report model once; `ReportGenerator` turns one image into a report."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NO_MODEL_MESSAGE = (
    "No report model is loaded, so only the quality panel works. Create one with `lrrg benchmark` "
    "(or `bash scripts/main.sh`, which sets up the environment first); it saves its models under "
    "`runs/<name>/models/<arm>-seed<k>/`, and `lrrg app` then picks the newest one. Or start the app with "
    "`lrrg app --model PATH_OR_HUB_ID` (or set `LRRG_MODEL`)."
)


@dataclass
class GeneratedReport:
    """One generated report and how it was made."""

    findings: str
    impression: str
    text: str
    seconds: float
    model_name: str


@dataclass
class ReportGenerator:
    """An LRRG model with its processor, loaded once and used for every request.

    Args:
        model: an `LrrgForConditionalGeneration` (put in eval mode here).
        processor: its `LrrgProcessor`.
        name: what the report panel calls the model.
        source: the folder or Hub id it came from (`None` for an in-memory model).
        hub_id: the Hub id when it came from the Hub (the panel links its model card).
        datasets: Hub ids of the datasets named in its model card.
        max_new_tokens: report length cap.
    """

    model: Any
    processor: Any
    name: str
    source: str | None = None
    hub_id: str | None = None
    datasets: list[str] = field(default_factory=list)
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        self.model.eval()

    def generate(self, image: Any) -> GeneratedReport:
        """Writes the report of one image.

        Args:
            image: a PIL image (any mode the LRRG image processor reads: `L`, `I;16`, `RGB`, ...).

        Returns:
            A `GeneratedReport` (findings, impression, full text, seconds spent, model name).
        """
        import torch

        from lrrg.modeling_lrrg import split_report

        start = time.perf_counter()
        inputs = self.processor(images=[image], return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self._token_budget(inputs["input_ids"].shape[1]),
                                         num_beams=1, do_sample=False)
        text = self.processor.batch_decode(output, skip_special_tokens=True)[0].strip()
        findings, impression = split_report(text)
        return GeneratedReport(findings, impression, text, time.perf_counter() - start, self.name)

    def _token_budget(self, prompt_length: int) -> int:
        """`max_new_tokens`, lowered so that prompt + report fit the language model's positions (GPT-2's are learned:
        going past them is an index error, not just a worse report)."""
        limit = getattr(self.model.config.text_config, "max_position_embeddings", None)
        if not isinstance(limit, int) or prompt_length + self.max_new_tokens <= limit:
            return self.max_new_tokens
        logger.warning(f"max_new_tokens {self.max_new_tokens} lowered to {limit - prompt_length}: the language model "
                       f"has {limit} positions and the prompt takes {prompt_length}.")
        return max(1, limit - prompt_length)

    @property
    def card_url(self) -> str | None:
        """The model card on the Hub, when the model came from there."""
        return f"https://huggingface.co/{self.hub_id}" if self.hub_id else None


def is_lrrg_folder(path: Path) -> bool:
    """True when `path` holds a `config.json` whose `model_type` is `"lrrg"`."""
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "lrrg"
    except (OSError, ValueError, AttributeError):
        return False


def find_newest_model(runs_dir: str | os.PathLike = "runs") -> Path | None:
    """The newest LRRG model folder under `runs_dir` (by the time its `config.json` was written), or `None`."""
    root = Path(runs_dir)
    if not root.is_dir():
        return None
    candidates = [config.parent for config in root.rglob("config.json") if is_lrrg_folder(config.parent)]
    if not candidates:
        return None
    return max(candidates, key=lambda folder: (folder / "config.json").stat().st_mtime)


def _display_name(folder: Path, runs_dir: Path | None) -> str:
    if runs_dir is not None:
        try:
            parts = folder.resolve().relative_to(runs_dir.resolve()).parts
        except ValueError:
            parts = ()
        # runs/<name>/models/<arm>-seed<k> -> "<name>/<arm>-seed<k>"
        if len(parts) == 3 and parts[1] == "models":
            return f"{parts[0]}/{parts[2]}"
    return folder.name


def _card_datasets(folder: Path) -> list[str]:
    """Dataset ids from the YAML front-matter of the model card (`README.md`), when there is one."""
    card = folder / "README.md"
    if not card.is_file():
        return []
    try:
        from huggingface_hub import ModelCard

        data = ModelCard.load(card).data.to_dict()
    except Exception as error:  # noqa: BLE001 - a malformed card must not stop the app
        logger.warning(f"Could not read the model card {card}: {error}")
        return []
    datasets = data.get("datasets") or []
    return [datasets] if isinstance(datasets, str) else [str(d) for d in datasets]


def _hub_card_datasets(repo_id: str) -> list[str]:
    """Dataset ids of a Hub model's card (fetched beside the weights just downloaded; none when unreachable)."""
    try:
        from huggingface_hub import hf_hub_download

        card = Path(hf_hub_download(repo_id, "README.md"))
    except Exception as error:  # noqa: BLE001 - no card, or offline: the model still works
        logger.info(f"No model card for {repo_id} ({error}); the page links the model only.")
        return []
    return _card_datasets(card.parent)


def load_report_generator(source: str, device: str = "cpu", max_new_tokens: int = 128,
                          runs_dir: str | os.PathLike | None = None) -> ReportGenerator:
    """Loads an LRRG model and processor from a local folder or a Hub id.

    Args:
        source: a folder written by `save_pretrained` (with its processor) or a Hub id.
        device: torch device.
        max_new_tokens: report length cap.
        runs_dir: used to name models found under `runs/` as `<run>/<arm>-seed<k>`.

    Returns:
        A ready `ReportGenerator`.

    Raises:
        FileNotFoundError: the folder does not exist or holds no LRRG model / processor, or the Hub id cannot
            be reached; the message says what to pass instead.
    """
    from lrrg.modeling_lrrg import LrrgForConditionalGeneration, LrrgProcessor

    folder = Path(source).expanduser()
    is_local = folder.is_dir()
    if not is_local and (source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise FileNotFoundError(
            f"Model folder not found: {source}. Pass a folder written by `save_pretrained` / `lrrg train` / "
            f"`lrrg benchmark`, or a Hugging Face Hub id such as `user/model`. {NO_MODEL_MESSAGE}"
        )
    location = str(folder) if is_local else source
    try:
        model = LrrgForConditionalGeneration.from_pretrained(location).to(device)
        processor = LrrgProcessor.from_pretrained(location)
    except (OSError, ValueError) as error:
        where = "folder" if is_local else "Hub id (offline, or not an LRRG model?)"
        raise FileNotFoundError(
            f"Cannot load an LRRG model and processor from the {where} {source!r}: {error}"
        ) from error
    if is_local:
        name = _display_name(folder, Path(runs_dir) if runs_dir is not None else None)
        generator = ReportGenerator(model, processor, name, str(folder), None, _card_datasets(folder), max_new_tokens)
    else:
        generator = ReportGenerator(model, processor, source, source, source, _hub_card_datasets(source),
                                    max_new_tokens)
    logger.info(f"Loaded the report model {generator.name} from {location} on {device}.")
    return generator


def space_default_model(readme: str | os.PathLike | None = None) -> str | None:
    """On a Hugging Face Space (`$SPACE_ID` set) without `$LRRG_MODEL`: the first model of the Space card's
    front-matter (`models:` in the README beside `app.py`); `None` elsewhere, so that local runs keep the
    newest model under `runs/`."""
    if not os.environ.get("SPACE_ID") or os.environ.get("LRRG_MODEL"):
        return None
    card = Path(readme) if readme is not None else Path(__file__).with_name("README.md")
    if not card.is_file():
        return None
    from huggingface_hub import metadata_load

    models = (metadata_load(card) or {}).get("models") or []
    models = [models] if isinstance(models, str) else list(models)
    return str(models[0]) if models else None


def resolve_model_source(model: str | None, runs_dir: str | os.PathLike = "runs") -> str | None:
    """The model to load: `model` (from `--model` / `LRRG_MODEL`) or else the newest one under `runs_dir`."""
    if model:
        return model
    newest = find_newest_model(runs_dir)
    if newest is None:
        logger.warning(f"No LRRG model under {Path(runs_dir).resolve()}. {NO_MODEL_MESSAGE}")
        return None
    return str(newest)


__all__ = [
    "NO_MODEL_MESSAGE",
    "GeneratedReport",
    "ReportGenerator",
    "find_newest_model",
    "is_lrrg_folder",
    "load_report_generator",
    "resolve_model_source",
    "space_default_model",
]
