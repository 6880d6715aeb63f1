"""BLEU-1..4, ROUGE-L and CIDEr-D as pycocoevalcap computes them, with n-gram counts shared between scorers."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "NLG_KEYS",
    "bleu_scores",
    "cider_d_scores",
    "clean_report_r2gen",
    "lcs_length",
    "ngram_counts",
    "rouge_l_scores",
    "validate_pairs",
]

NLG_KEYS: tuple[str, ...] = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")

_R2GEN_SENT_PUNCT = re.compile(r"[.,?;*!%^&_+():-\[\]{}]")


def validate_pairs(
    predictions: Sequence[str], references: Sequence[str | Sequence[str]]
) -> tuple[list[str], list[list[str]]]:
    """Checks predictions and references and returns references as one list of strings per prediction.

    Args:
        predictions: one generated report per example (an empty string is allowed and scores zero).
        references: per example, one reference string or a non-empty list of reference strings.

    Returns:
        `(predictions, references)` as lists, references as lists of strings.
    """
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError(
            "predictions and references must be lists of strings (one per example), not a single string"
        )
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references: give one reference "
            "(or a list of references) per prediction"
        )
    if not predictions:
        raise ValueError("no predictions to score: predictions and references are empty")
    refs_out: list[list[str]] = []
    for i, (pred, ref) in enumerate(zip(predictions, references)):
        if not isinstance(pred, str):
            raise TypeError(f"predictions[{i}] is {type(pred).__name__} ({pred!r}), expected a string")
        refs = [ref] if isinstance(ref, str) else ref
        if not isinstance(refs, (list, tuple)) or not refs:
            raise TypeError(f"references[{i}] must be a string or a non-empty list of strings, got {ref!r}")
        for r in refs:
            if not isinstance(r, str):
                raise TypeError(f"references[{i}] holds {type(r).__name__} ({r!r}), expected strings")
            if not r.split():
                raise ValueError(
                    f"references[{i}] is empty: every example needs a non-empty reference report"
                )
        refs_out.append(list(refs))
    return predictions, refs_out


def clean_report_r2gen(report: str) -> str:
    """The R2Gen IU X-ray report cleaning: lower case, list numbers and punctuation removed, ` . ` sentences.

    Args:
        report: a raw report.

    Returns:
        The cleaned report, e.g. `"the lungs are clear ."`.
    """
    text = report
    for _ in range(3):
        text = text.replace("..", ".")
    text = text.replace("1. ", "")
    for k in "2345":
        text = text.replace(f". {k}. ", ". ")
    for k in "2345":
        text = text.replace(f" {k}. ", ". ")
    sentences = text.strip().lower().split(". ")

    def clean_sentence(sentence: str) -> str:
        sentence = (
            sentence.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower()
        )
        return _R2GEN_SENT_PUNCT.sub("", sentence)

    return " . ".join(clean_sentence(s) for s in sentences) + " ."


def ngram_counts(text: str, n: int = 4) -> tuple[int, Counter]:
    """Whitespace tokens of `text` and the counts of its 1..n-grams (tuples), as pycocoevalcap's `precook`."""
    words = text.split()
    counts: Counter = Counter()
    for k in range(1, n + 1):
        counts.update(zip(*(words[i:] for i in range(k))))
    return len(words), counts


def bleu_scores(
    hyp_counts: Sequence[tuple[int, Counter]], ref_counts: Sequence[Sequence[tuple[int, Counter]]], n: int = 4
) -> tuple[list[float], list[list[float]]]:
    """Corpus BLEU-1..n with pycocoevalcap's `closest` reference length, plus its per-example values.

    Args:
        hyp_counts: `ngram_counts` of each hypothesis.
        ref_counts: `ngram_counts` of each example's references.

    Returns:
        `(corpus, per_example)`: corpus BLEU-k for k = 1..n and, per k, the list of per-example values.
    """
    small, tiny = 1e-9, 1e-15
    total_guess, total_correct = [0] * n, [0] * n
    total_test = total_ref = 0
    per_example: list[list[float]] = [[] for _ in range(n)]
    for (testlen, counts), refs in zip(hyp_counts, ref_counts):
        maxcounts: dict = {}
        for _, rc in refs:
            for gram, c in rc.items():
                if c > maxcounts.get(gram, 0):
                    maxcounts[gram] = c
        reflen = min((abs(rl - testlen), rl) for rl, _ in refs)[1]
        guess = [max(0, testlen - k + 1) for k in range(1, n + 1)]
        correct = [0] * n
        for gram, c in counts.items():
            m = maxcounts.get(gram)
            if m:
                correct[len(gram) - 1] += min(m, c)
        total_test += testlen
        total_ref += reflen
        bleu = 1.0
        ratio = (testlen + tiny) / (reflen + small)
        penalty = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
        for k in range(n):
            total_guess[k] += guess[k]
            total_correct[k] += correct[k]
            bleu *= (correct[k] + tiny) / (guess[k] + small)
            per_example[k].append(bleu ** (1.0 / (k + 1)) * penalty)
    corpus = []
    bleu = 1.0
    for k in range(n):
        bleu *= (total_correct[k] + tiny) / (total_guess[k] + small)
        corpus.append(bleu ** (1.0 / (k + 1)))
    ratio = (total_test + tiny) / (total_ref + small)
    if ratio < 1:
        corpus = [b * math.exp(1 - 1 / ratio) for b in corpus]
    return corpus, per_example


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (bit-parallel, O(len(b)) integer ops)."""
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        m = masks.get(tok)
        if m:
            u = v & m
            v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2
) -> list[float]:
    """Per-example ROUGE-L F-measure (beta 1.2, best precision and recall over references), as pycocoevalcap.

    Tokens are split on single spaces, as pycocoevalcap's `Rouge` does.
    """
    scores = []
    for pred, refs in zip(predictions, references):
        cand = pred.split(" ")
        precs, recs = [], []
        for ref in refs:
            toks = ref.split(" ")
            lcs = lcs_length(toks, cand)
            precs.append(lcs / len(cand))
            recs.append(lcs / len(toks))
        p, r = max(precs), max(recs)
        scores.append((1 + beta**2) * p * r / (r + beta**2 * p) if p and r else 0.0)
    return scores


def _tfidf(
    counts: Counter, doc_freq: dict, log_num_docs: float, n: int
) -> tuple[list[dict], list[float], int]:
    vec: list[dict] = [{} for _ in range(n)]
    norm = [0.0] * n
    length = 0
    for gram, tf in counts.items():
        k = len(gram) - 1
        weight = float(tf) * (log_num_docs - math.log(max(1.0, doc_freq.get(gram, 0.0))))
        vec[k][gram] = weight
        norm[k] += weight * weight
        if k == 1:  # pycocoevalcap counts bigrams as the length (kept for equal scores)
            length += tf
    return vec, [math.sqrt(x) for x in norm], length


def cider_d_scores(
    hyp_counts: Sequence[tuple[int, Counter]],
    ref_counts: Sequence[Sequence[tuple[int, Counter]]],
    n: int = 4,
    sigma: float = 6.0,
) -> list[float]:
    """Per-example CIDEr-D (pycocoevalcap's `Cider`): IDF from the references of the scored corpus.

    Returns:
        Per-example scores; the corpus CIDEr is their mean.
    """
    doc_freq: dict = {}
    for refs in ref_counts:
        grams = set()
        for _, rc in refs:
            grams.update(rc)
        for gram in grams:
            doc_freq[gram] = doc_freq.get(gram, 0.0) + 1.0
    log_num_docs = math.log(float(len(ref_counts)))
    two_sigma_sq = 2 * sigma**2
    scores = []
    for (_, hc), refs in zip(hyp_counts, ref_counts):
        vec, norm, length = _tfidf(hc, doc_freq, log_num_docs, n)
        total = [0.0] * n
        for _, rc in refs:
            vec_r, norm_r, length_r = _tfidf(rc, doc_freq, log_num_docs, n)
            penalty = math.e ** (-(float(length - length_r) ** 2) / two_sigma_sq)
            for k in range(n):
                ref_k = vec_r[k]
                val = 0.0
                for gram, w in vec[k].items():
                    r = ref_k.get(gram)
                    if r:
                        val += min(w, r) * r
                if norm[k] != 0 and norm_r[k] != 0:
                    val /= norm[k] * norm_r[k]
                total[k] += val * penalty
        scores.append(sum(total) / n / len(refs) * 10.0)
    return scores
