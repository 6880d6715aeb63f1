"""A CheXpert-style rule labeller: mention matching, clause-scoped negation and uncertainty, standard aggregation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS

from . import vocabulary as V

__all__ = ["RuleLabeller", "label_reports_rules", "split_sentences"]

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1
_POST_WINDOW = 48  # characters after a mention in which a post-cue applies ("effusion is not seen")
_ATTRIBUTE_WINDOW = 60  # characters around a size-described anatomy term searched for its qualifier


def _alternation(fragments: Iterable[str]) -> str:
    return "|".join(f"(?:{f})" for f in fragments)


def _compile(fragments: Iterable[str]) -> re.Pattern:
    return re.compile(rf"(?<![\w-])(?:{_alternation(fragments)})(?![\w-])")


_SENTENCE_SPLIT = re.compile(r"(?<=[a-z0-9)\]])\.(?=[A-Z])|(?<=[.!?])\s+|\n+|(?:^|\s)\d{1,2}[.)]\s+|;\s*")


def split_sentences(text: str) -> list[str]:
    """Splits a report into lower-cased sentences (also at numbered-list items and `findings.Impression`)."""
    parts = _SENTENCE_SPLIT.split(text)
    out = []
    for part in parts:
        part = part.strip().strip(".").strip().lower()
        if part:
            out.append(part)
    return out


class RuleLabeller:
    """Labels reports with the 14 CheXpert observations from rules (see `metrics/chexbert/vocabulary.py`).

    Per mention: definite-uncertainty cues (`cannot exclude`, `no new`) first, then negation, then
    uncertainty, else positive; cues act within the clause (sentence split at `but`, `however`, `which`, ...),
    the nearest pre-cue winning. Per observation: any positive wins, else uncertain, else negative, else blank.
    `No Finding` is positive when no other observation except Support Devices is positive or uncertain.
    """

    def __init__(self) -> None:
        self.mentions = {name: _compile(frags) for name, frags in V.MENTIONS.items()}
        self.uncertain_mentions = {name: _compile(frags) for name, frags in V.UNCERTAIN_MENTIONS.items()}
        self.attributes = {name: _compile(frags) for name, frags in V.ATTRIBUTE_MENTIONS.items()}
        self.unmentions = {name: _compile(frags) for name, frags in V.UNMENTIONS.items()}
        self.pseudo = _compile(V.PSEUDO_NEGATION)
        self.breaks = _compile(V.CLAUSE_BREAKS)
        self.comma_break = re.compile(r",\s+(?=(?:the|there|this|it|heart|lungs?)\b)")
        self.pre_cues = [
            (UNCERTAIN, _compile(V.PRE_NEGATION_UNCERTAINTY), True),
            (NEGATIVE, _compile(V.PRE_NEGATION), False),
            (UNCERTAIN, _compile(V.PRE_UNCERTAINTY), False),
        ]
        self.post_definite_uncertainty = _compile(V.POST_UNCERTAINTY[:1])
        self.post_negation = _compile(V.POST_NEGATION)
        self.post_uncertainty = _compile(V.POST_UNCERTAINTY[1:])
        self.borderline = _compile(V.BORDERLINE_QUALIFIERS)
        self.abnormal = _compile(V.ABNORMAL_QUALIFIERS)
        self.negated_abnormal = re.compile(
            r"\b(not|no|without)\s+(\w+\s+)?(enlarged|enlargement|widened|widening|large)\b"
        )
        self.normal = _compile(V.NORMAL_QUALIFIERS)

    # -- one sentence -------------------------------------------------------------------------------
    def _clauses(self, sentence: str) -> list[tuple[int, int]]:
        cuts = [0]
        cuts += [m.start() for m in self.breaks.finditer(sentence)]
        cuts += [m.start() for m in self.comma_break.finditer(sentence)]
        cuts = sorted(set(cuts)) + [len(sentence)]
        return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]

    def _pre_cues(self, sentence: str) -> list[tuple[int, int, int, bool]]:
        cues = []
        for label, pattern, definite in self.pre_cues:
            cues += [(m.start(), m.end(), label, definite) for m in pattern.finditer(sentence)]
        # a longer cue wins over a shorter one that starts inside it ("no new" over "no")
        cues.sort(key=lambda c: (c[0], -(c[1] - c[0])))
        kept, last_end = [], -1
        for cue in cues:
            if cue[0] >= last_end:
                kept.append(cue)
                last_end = cue[1]
        return kept

    def _label_mention(self, sentence, start, end, clause, pre_cues, after_only=False) -> int:
        lo, hi = clause
        # a cue that starts before the mention governs it, even when it spans it ("no X to suggest Y")
        before = [c for c in pre_cues if lo <= c[0] < start]
        after = sentence[end : min(hi, end + _POST_WINDOW)]
        nearest = before[-1] if before and not after_only else None
        if (nearest and nearest[3]) or self.post_definite_uncertainty.match(after.lstrip()):
            return UNCERTAIN
        if (nearest and nearest[2] == NEGATIVE) or self.post_negation.search(after):
            return NEGATIVE
        if (nearest and nearest[2] == UNCERTAIN) or self.post_uncertainty.search(after):
            return UNCERTAIN
        return POSITIVE

    def _attribute_label(self, sentence, start, end, clause, pre_cues) -> int | None:
        lo, hi = clause
        # the qualifier sits next to the anatomy term: "enlarged heart", "heart size is normal" (not the
        # "enlarged aorta" after the next comma)
        before = sentence[max(lo, start - 24) : start].rsplit(",", 1)[-1]
        around = before + " " + sentence[start : min(hi, end + _ATTRIBUTE_WINDOW)].split(",", 1)[0]
        if self.borderline.search(around):
            return UNCERTAIN
        if self.negated_abnormal.search(around):
            return NEGATIVE
        if self.abnormal.search(around):
            label = self._label_mention(sentence, start, end, clause, pre_cues)
            return POSITIVE if label == NEGATIVE and not self.normal.search(around) else label
        if self.normal.search(around):
            return NEGATIVE
        return None

    def label_sentence(self, sentence: str) -> dict[str, list[int]]:
        """Labels of every mention in one lower-cased sentence, per observation."""
        sentence = self.pseudo.sub(lambda m: "_" * len(m.group()), sentence)
        clauses = self._clauses(sentence)
        pre_cues = self._pre_cues(sentence)
        found: dict[str, list[int]] = {}

        def clause_of(pos: int) -> tuple[int, int]:
            for clause in clauses:
                if clause[0] <= pos < clause[1]:
                    return clause
            return clauses[-1]

        for name, pattern in self.mentions.items():
            text = sentence
            unmention = self.unmentions.get(name)
            if unmention is not None:
                text = unmention.sub(lambda m: "#" * len(m.group()), text)
            for m in pattern.finditer(text):
                label = self._label_mention(text, m.start(), m.end(), clause_of(m.start()), pre_cues)
                found.setdefault(name, []).append(label)
            extra = self.uncertain_mentions.get(name)
            if extra is not None:
                for m in extra.finditer(text):
                    label = self._label_mention(text, m.start(), m.end(), clause_of(m.start()), pre_cues)
                    found.setdefault(name, []).append(UNCERTAIN if label == POSITIVE else label)
            attribute = self.attributes.get(name)
            if attribute is not None and name not in found:
                for m in attribute.finditer(text):
                    label = self._attribute_label(text, m.start(), m.end(), clause_of(m.start()), pre_cues)
                    if label is not None:
                        found.setdefault(name, []).append(label)
        return found

    # -- one report ---------------------------------------------------------------------------------
    def label(self, report: str) -> dict[str, int | None]:
        """The 14 labels of one report (1 positive, 0 negative, -1 uncertain, None blank)."""
        if not isinstance(report, str):
            raise TypeError(f"a report must be a string, got {type(report).__name__} ({report!r})")
        row: dict[str, int | None] = dict.fromkeys(CHEXPERT_OBSERVATIONS)
        if not report.strip():  # an empty report states nothing, not "no finding"
            return row
        mentions: dict[str, list[int]] = {}
        for sentence in split_sentences(report):
            for name, labels in self.label_sentence(sentence).items():
                mentions.setdefault(name, []).extend(labels)
        for name, labels in mentions.items():
            row[name] = POSITIVE if POSITIVE in labels else UNCERTAIN if UNCERTAIN in labels else NEGATIVE
        pathologies = [n for n in CHEXPERT_OBSERVATIONS if n not in ("No Finding", "Support Devices")]
        if not any(row[n] in (POSITIVE, UNCERTAIN) for n in pathologies):
            row["No Finding"] = POSITIVE
        return row

    def __call__(self, reports: Sequence[str]) -> list[dict[str, int | None]]:
        return [self.label(r) for r in reports]


@lru_cache(maxsize=1)
def _default_labeller() -> RuleLabeller:
    return RuleLabeller()


def label_reports_rules(texts: Sequence[str]) -> list[dict[str, int | None]]:
    """Labels reports with the default `RuleLabeller`.

    Args:
        texts: reports (strings; an empty report gives all 14 blank).

    Returns:
        One dict per report, observation name -> 1 / 0 / -1 / None, in the standard order.
    """
    labeller = _default_labeller()
    return [labeller.label(t) for t in texts]
