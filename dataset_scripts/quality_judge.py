"""The optional AQAA judge: a local image-text-to-text model asked about borderline cases only.

The judge sees the image and a structured prompt listing every tool measurement and its threshold,
and must answer with a small JSON object. Its answer is parsed defensively: anything that is not a
clear "high" or "low" makes it abstain (the tools' label stands); it never raises on a bad answer.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

PROMPT_TEMPLATE = """You are checking the technical image quality of a frontal chest radiograph (not the diagnosis).
Automatic measurements (value / threshold; flagged means beyond the threshold):
{table}
Is this image of diagnostic quality? Answer ONLY with JSON: {{"quality": "high" or "low", "reason": "<short reason>"}}"""

_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_KEYWORD = re.compile(r"\b(?:quality|answer|verdict|label)\b\W{0,10}\b(high|low|good|poor|bad|diagnostic|"
                      r"non-diagnostic)\b", re.IGNORECASE)
_WORD_TO_LABEL = {"high": "high", "good": "high", "diagnostic": "high", "low": "low", "poor": "low", "bad": "low",
                  "non-diagnostic": "low"}


@dataclass
class JudgeVerdict:
    """The judge's answer: `label` is "high", "low" or None (abstained), with the raw text kept."""

    label: str | None
    reason: str = ""
    raw: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the JSONL record."""
        return asdict(self)


def build_prompt(flags: dict[str, dict[str, Any]]) -> str:
    """The structured prompt: one line per criterion with its measurement and threshold."""
    lines = []
    for name, flag in flags.items():
        state = "FLAGGED" if flag.get("flagged") else "ok"
        lines.append(f"- {name}: {float(flag['value']):.4g} / {float(flag['threshold']):.4g} ({state})")
    return PROMPT_TEMPLATE.format(table="\n".join(lines))


def parse_verdict(text: Any) -> JudgeVerdict:
    """Reads "high" / "low" from a model answer; abstains (label None) when unclear. Never raises."""
    if not isinstance(text, str) or not text.strip():
        return JudgeVerdict(None, raw=str(text) if text is not None else "", error="empty answer")
    for match in _JSON_OBJECT.finditer(text):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        value = str(data.get("quality", data.get("label", ""))).strip().lower()
        if value in _WORD_TO_LABEL:
            return JudgeVerdict(_WORD_TO_LABEL[value], str(data.get("reason", ""))[:300], raw=text)
    found = {_WORD_TO_LABEL[m.group(1).lower()] for m in _KEYWORD.finditer(text)}
    if len(found) == 1:
        return JudgeVerdict(found.pop(), raw=text)
    return JudgeVerdict(None, raw=text, error="no clear high/low answer" if not found else "contradictory answer")


class QualityJudge:
    """Wraps any local (or Hub, when named) image-text-to-text model as an AQAA judge.

    Args:
        model: a model folder or Hub id (loaded with `AutoModelForImageTextToText` / `AutoProcessor`), or
            an already loaded model (then `processor` is required).
        processor: the matching processor when `model` is an object.
        max_new_tokens: answer length budget.
        device: torch device string.
        trust_remote_code: passed to `from_pretrained` (needed for models shipped as remote code).
    """

    def __init__(self, model: Any, processor: Any = None, max_new_tokens: int = 48, device: str = "cpu",
                 trust_remote_code: bool = False):
        self.max_new_tokens = max_new_tokens
        self.device = device
        if isinstance(model, str):
            self.name = model
            self.model, self.processor = self._load(model, trust_remote_code)
        else:
            if processor is None:
                raise ValueError("QualityJudge: pass the processor together with a loaded model")
            self.name = getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__
            self.model, self.processor = model, processor
        self.model.eval()

    def _load(self, name: str, trust_remote_code: bool):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(name, trust_remote_code=trust_remote_code)
            model = AutoModelForImageTextToText.from_pretrained(name, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as error:
            raise RuntimeError(
                f"cannot load the AQAA judge {name!r} ({error}). Give a local folder with an image-text-to-text "
                "model, or a Hub id while online (download it first with `hf download MODEL --local-dir DIR`)."
            ) from error
        return model.to(self.device), processor

    def _inputs(self, image: Any, prompt: str):
        processor = self.processor
        template = getattr(processor, "chat_template", None)
        if template and hasattr(processor, "apply_chat_template"):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            text = processor.apply_chat_template(messages, add_generation_prompt=True)
            return processor(images=[image], text=[text], return_tensors="pt"), True
        if "prompts" in inspect.signature(processor.__call__).parameters:  # processors whose `text` is the target
            return processor(images=[image], prompts=[prompt], return_tensors="pt"), False
        return processor(images=[image], text=[prompt], return_tensors="pt"), True

    def judge(self, image: Any, flags: dict[str, dict[str, Any]]) -> JudgeVerdict:
        """Asks the model about one image. Returns a verdict; failures abstain with `error` set."""
        import torch

        from .image_io import open_image

        try:
            pil = open_image(image).convert("RGB")
            inputs, strip_prompt = self._inputs(pil, build_prompt(flags))
            inputs = inputs.to(self.device)
            with torch.inference_mode():
                generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            if strip_prompt and "input_ids" in inputs:
                generated = generated[:, inputs["input_ids"].shape[1]:]
            text = self.processor.batch_decode(generated, skip_special_tokens=True)[0]
        except Exception as error:  # noqa: BLE001 - a judge failure must never stop an assessment run
            logger.warning("AQAA judge %s failed: %s", self.name, error)
            return JudgeVerdict(None, error=f"{type(error).__name__}: {error}")
        return parse_verdict(text)


__all__ = ["PROMPT_TEMPLATE", "JudgeVerdict", "QualityJudge", "build_prompt", "parse_verdict"]
