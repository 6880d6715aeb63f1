"""Processor of LRRG (image processor + tokenizer), the report text convention and report-tokenizer training."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import logging

logger = logging.get_logger(__name__)

IMAGE_TOKEN = "<image>"
REPORT_TOKEN = "<report>"
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN, REPORT_TOKEN)
_FINDINGS_RE = re.compile(r"findings\s*:", re.IGNORECASE)
_IMPRESSION_RE = re.compile(r"impression\s*:", re.IGNORECASE)


def format_report(findings: str | None, impression: str | None) -> str:
    """Joins findings and impression into the one target text the model learns to write.

    Args:
        findings: the FINDINGS section (may be empty when the impression is given).
        impression: the IMPRESSION section (may be empty when the findings are given).

    Returns:
        `"FINDINGS: ... IMPRESSION: ..."` (a missing section is left out).
    """
    findings = " ".join((findings or "").split())
    impression = " ".join((impression or "").split())
    if not findings and not impression:
        raise ValueError("Empty report: both findings and impression are empty; give at least one of them.")
    parts = []
    if findings:
        parts.append(f"FINDINGS: {findings}")
    if impression:
        parts.append(f"IMPRESSION: {impression}")
    return " ".join(parts)


def split_report(text: str) -> tuple[str, str]:
    """Inverse of [`format_report`]: returns `(findings, impression)`; text without headers counts as findings."""
    text = " ".join((text or "").split())
    impression_match = _IMPRESSION_RE.search(text)
    head, impression = (text, "") if impression_match is None else (
        text[: impression_match.start()], text[impression_match.end() :]
    )
    findings_match = _FINDINGS_RE.search(head)
    findings = head[findings_match.end() :] if findings_match is not None else head
    return findings.strip(), impression.strip()


def train_report_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000, min_frequency: int = 2, model_max_length: int = 1024
) -> PreTrainedTokenizerFast:
    """Trains a byte-level BPE tokenizer on report texts, with LRRG's special tokens; nothing is downloaded.

    Args:
        texts: report strings (e.g. `format_report(findings, impression)` of the training set).
        vocab_size: target vocabulary size (at least 300: the byte alphabet plus special tokens).
        min_frequency: minimum pair frequency for a merge.
        model_max_length: recorded on the tokenizer.

    Returns:
        `PreTrainedTokenizerFast` with `<pad>`=0, `<s>`=1, `</s>`=2, `<unk>`=3, `<image>`=4, `<report>`=5.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 300:
        raise ValueError(f"vocab_size must be at least 300 (byte alphabet + special tokens), got {vocab_size}.")
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise ValueError("train_report_tokenizer needs at least one non-empty report text.")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens=[IMAGE_TOKEN, REPORT_TOKEN],
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def _ensure_special_tokens(tokenizer: Any, image_token: str, report_token: str) -> None:
    """Adds the image / report / pad tokens to a tokenizer that lacks them (resize the model's embeddings after)."""
    missing = [t for t in (image_token, report_token) if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
        logger.info(f"Added {missing} to the tokenizer; resize the model's token embeddings to {len(tokenizer)}.")
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})


class LrrgProcessor(ProcessorMixin):
    r"""Builds LRRG inputs: `<s> <image>*N [prompt] <report>` followed (for training) by the report and `</s>`.

    Args:
        image_processor ([`LrrgImageProcessor`]): turns radiographs into `pixel_values`.
        tokenizer (`PreTrainedTokenizerBase`): report tokenizer (see [`train_report_tokenizer`]).
        num_image_tokens (`int`, defaults to 64): `<image>` placeholders per image; must equal the model's
            `config.image_seq_length`.
        image_token / report_token (`str`): placeholder and end-of-prompt tokens.
        max_report_tokens (`int`, defaults to 256): report length cap in training inputs.
    """

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        num_image_tokens: int = 64,
        image_token: str = IMAGE_TOKEN,
        report_token: str = REPORT_TOKEN,
        max_report_tokens: int = 256,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        if tokenizer is None or image_processor is None:
            raise ValueError("LrrgProcessor needs both an image_processor and a tokenizer.")
        _ensure_special_tokens(tokenizer, image_token, report_token)
        self.num_image_tokens = int(num_image_tokens)
        self.image_token = image_token
        self.report_token = report_token
        self.max_report_tokens = int(max_report_tokens)
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_token)
        self.report_token_id = tokenizer.convert_tokens_to_ids(report_token)
        super().__init__(image_processor, tokenizer, chat_template=chat_template)

    format_report = staticmethod(format_report)
    split_report = staticmethod(split_report)

    def _prompt_ids(self, prompt: str | None) -> list[int]:
        ids = [] if self.tokenizer.bos_token_id is None else [self.tokenizer.bos_token_id]
        ids += [self.image_token_id] * self.num_image_tokens
        if prompt:
            ids += self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return ids + [self.report_token_id]

    def _report_ids(self, report: str, index: int) -> list[int]:
        if not isinstance(report, str) or not report.strip():
            raise ValueError(f"Report {index} is empty; every training image needs a non-empty report text.")
        ids = self.tokenizer(report, add_special_tokens=False)["input_ids"][: self.max_report_tokens]
        return ids + [self.tokenizer.eos_token_id]

    def __call__(
        self,
        images: Any = None,
        text: str | Sequence[str] | None = None,
        prompts: str | Sequence[str | None] | None = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """Builds model inputs.

        Args:
            images: one radiograph or a list (PIL, numpy, torch).
            text: optional target report(s); when given, the output carries `labels` for training.
            prompts: optional per-image prompt text (e.g. the indication) placed after the image tokens.
            return_tensors: only `"pt"` is supported.

        Returns:
            `BatchFeature` with `input_ids` / `attention_mask` of shape (batch, seq) (generation inputs are
            left-padded, training inputs right-padded), `pixel_values` (batch, channels, size, size) and, with
            `text`, `labels` (-100 on prompt, image and padding positions).
        """
        if images is None:
            raise ValueError("LrrgProcessor needs `images`: every LRRG input is a radiograph.")
        if return_tensors not in ("pt", None):
            raise ValueError(f"LrrgProcessor returns torch tensors only (return_tensors='pt'), got {return_tensors!r}.")
        pixel_values = self.image_processor(images, return_tensors="pt", **kwargs)["pixel_values"]
        batch_size = pixel_values.shape[0]
        prompts = self._broadcast(prompts, batch_size, "prompts")
        sequences = [self._prompt_ids(prompt) for prompt in prompts]
        if text is None:
            input_ids, attention_mask = self._pad(sequences, left=True)
            return BatchFeature({"input_ids": input_ids, "attention_mask": attention_mask, "pixel_values": pixel_values})
        reports = self._broadcast(text, batch_size, "text")
        labels = []
        for index, report in enumerate(reports):
            report_ids = self._report_ids(report, index)
            labels.append([-100] * len(sequences[index]) + report_ids)
            sequences[index] = sequences[index] + report_ids
        input_ids, attention_mask = self._pad(sequences, left=False)
        label_ids, _ = self._pad(labels, left=False, value=-100)
        return BatchFeature(
            {"input_ids": input_ids, "attention_mask": attention_mask, "pixel_values": pixel_values, "labels": label_ids}
        )

    @staticmethod
    def _broadcast(values: Any, batch_size: int, name: str) -> list:
        if values is None or isinstance(values, str):
            return [values] * batch_size
        values = list(values)
        if len(values) != batch_size:
            raise ValueError(f"Got {batch_size} images but {len(values)} {name}; give one per image.")
        return values

    def _pad(self, sequences: list[list[int]], left: bool, value: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pad_value = self.tokenizer.pad_token_id if value is None else value
        length = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), length), pad_value, dtype=torch.long)
        mask = torch.zeros((len(sequences), length), dtype=torch.long)
        for row, seq in enumerate(sequences):
            span = slice(length - len(seq), length) if left else slice(0, len(seq))
            ids[row, span] = torch.tensor(seq, dtype=torch.long)
            mask[row, span] = 1
        return ids, mask

    def _report_part(self, ids: Any) -> list[int]:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if self.report_token_id in ids:
            ids = ids[len(ids) - ids[::-1].index(self.report_token_id) :]
        return ids

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = True, **kwargs: Any) -> list[str]:
        """Decodes generated ids to report texts, dropping the prompt (everything up to `<report>`).

        Args:
            sequences: (batch, seq) ids as returned by `model.generate` (with or without the prompt).
            skip_special_tokens: drop special tokens (padding, `</s>`...).

        Returns:
            One report string per row.
        """
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        return [
            self.tokenizer.decode(self._report_part(row), skip_special_tokens=skip_special_tokens, **kwargs).strip()
            for row in sequences
        ]

    def decode(self, ids: Any, skip_special_tokens: bool = True, **kwargs: Any) -> str:
        """Decodes one generated sequence to its report text (see [`batch_decode`])."""
        return self.batch_decode([ids], skip_special_tokens=skip_special_tokens, **kwargs)[0]

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values"]


__all__ = [
    "LrrgProcessor",
    "format_report",
    "split_report",
    "train_report_tokenizer",
    "IMAGE_TOKEN",
    "REPORT_TOKEN",
    "SPECIAL_TOKENS",
]
