"""Natural-language-generation metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) in the report-generation conventions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from .java_tools import MeteorScorer, meteor_unavailable_reason, ptb_tokenize
from .scoring import (
    NLG_KEYS,
    bleu_scores,
    cider_d_scores,
    clean_report_r2gen,
    lcs_length,
    ngram_counts,
    rouge_l_scores,
    validate_pairs,
)

logger = logging.getLogger(__name__)

TOKENIZERS = ("none", "ptb")
NORMALIZERS = (None, "r2gen")

__all__ = [
    "NLG_KEYS",
    "NORMALIZERS",
    "TOKENIZERS",
    "bleu_scores",
    "cider_d_scores",
    "clean_report_r2gen",
    "compute_nlg",
    "lcs_length",
    "meteor_unavailable_reason",
    "ngram_counts",
    "ptb_tokenize",
    "rouge_l_scores",
]


def _prepare(
    predictions: list[str], references: list[list[str]], tokenizer: str, normalize: str | None
) -> tuple[list[str], list[list[str]]]:
    if normalize == "r2gen":
        predictions = [clean_report_r2gen(p) if p.strip() else "" for p in predictions]
        references = [[clean_report_r2gen(r) for r in refs] for refs in references]
    if tokenizer == "ptb":
        flat = predictions + [r for refs in references for r in refs]
        tokenized = ptb_tokenize(flat)
        predictions, rest = tokenized[: len(predictions)], iter(tokenized[len(predictions) :])
        references = [[next(rest) for _ in refs] for refs in references]
    return predictions, references


def compute_nlg(
    predictions: Sequence[str],
    references: Sequence[str | Sequence[str]],
    tokenizer: str = "none",
    normalize: str | None = None,
    meteor: bool = True,
    return_per_example: bool = False,
) -> dict[str, Any]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, equal to pycocoevalcap's scorers on the same token strings.

    Args:
        predictions: generated reports, one per example.
        references: per example one reference report or a list of them.
        tokenizer: `"none"` (default, the R2Gen convention: whitespace tokens of the text as given) or
            `"ptb"` (the COCO-caption convention: Stanford PTB tokenizer, punctuation dropped; needs Java).
        normalize: `None` (text as given) or `"r2gen"` (R2Gen's IU X-ray report cleaning, for raw reports).
        meteor: compute METEOR (a Java subprocess); when Java or the jar is missing, `meteor` is `None` and
            `meteor_unavailable` says why.
        return_per_example: also return `per_example` (metric -> list of per-example values; BLEU per-example
            values are pycocoevalcap's sentence-level ones).

    Returns:
        A dict with `bleu_1`..`bleu_4`, `meteor`, `rouge_l`, `cider`, `num_examples` and `convention`
        (`{"tokenizer", "normalize", "cider": "CIDEr-D, IDF from the references"}`).
    """
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer={tokenizer!r} is not one of {TOKENIZERS}")
    if normalize not in NORMALIZERS:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZERS}")
    preds, refs = validate_pairs(predictions, references)
    preds, refs = _prepare(preds, refs, tokenizer, normalize)

    meteor_result: dict[str, Any] = {}
    meteor_thread = None
    unavailable = meteor_unavailable_reason() if meteor else "not requested (meteor=False)"
    if unavailable is None:
        # METEOR runs in Java; its I/O overlaps with the Python scorers below
        def run_meteor() -> None:
            try:
                meteor_result["value"] = MeteorScorer.shared().score(preds, refs)
            except Exception as exc:  # reported in the result, never a silent zero
                meteor_result["error"] = f"METEOR failed: {exc}"

        meteor_thread = threading.Thread(target=run_meteor, daemon=True)
        meteor_thread.start()

    hyp_counts = [ngram_counts(p) for p in preds]
    ref_counts = [[ngram_counts(r) for r in rs] for rs in refs]
    bleu, bleu_per = bleu_scores(hyp_counts, ref_counts)
    rouge = rouge_l_scores(preds, refs)
    cider = cider_d_scores(hyp_counts, ref_counts)

    result: dict[str, Any] = {f"bleu_{k + 1}": float(bleu[k]) for k in range(4)}
    result["meteor"] = None
    result["rouge_l"] = sum(rouge) / len(rouge)
    result["cider"] = sum(cider) / len(cider)
    meteor_per = None
    if meteor_thread is not None:
        meteor_thread.join()
        unavailable = meteor_result.get("error")
        if "value" in meteor_result:
            result["meteor"], meteor_per = meteor_result["value"]
    if unavailable:
        result["meteor_unavailable"] = unavailable
        if meteor:
            logger.warning("METEOR is unavailable: %s", unavailable)
    result["num_examples"] = len(preds)
    result["convention"] = {
        "tokenizer": tokenizer,
        "normalize": normalize,
        "name": "coco-ptb" if tokenizer == "ptb" else "r2gen",
        "cider": "CIDEr-D (sigma 6, clipped), IDF from the references",
        "bleu": "corpus BLEU, closest reference length",
    }
    if return_per_example:
        result["per_example"] = {
            **{f"bleu_{k + 1}": bleu_per[k] for k in range(4)},
            "meteor": meteor_per,
            "rouge_l": rouge,
            "cider": cider,
        }
    return result
