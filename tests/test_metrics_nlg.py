"""Tests of `lrrg.metrics.nlg`: equality with pycocoevalcap, conventions, METEOR availability, bad input."""

from __future__ import annotations

import contextlib
import csv
import io
import random

import pytest

from lrrg.metrics.nlg import clean_report_r2gen, compute_nlg, lcs_length, meteor_unavailable_reason

pycoco = pytest.importorskip("pycocoevalcap")

KEYS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider")


def _iu_pairs(shared_data, n):
    with open(shared_data / "iu_xray" / "indiana_reports.csv", newline="") as f:
        texts = [clean_report_r2gen(r["findings"]) for r in csv.DictReader(f) if r["findings"].strip()][:n]
    hyps = texts[:]
    random.Random(0).shuffle(hyps)
    return hyps, texts


def _pycoco_scores(hyps, refs, meteor=False):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: r if isinstance(r, list) else [r] for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(gts, res)
    out = {f"bleu_{k + 1}": bleu[k] for k in range(4)}
    out["rouge_l"] = Rouge().compute_score(gts, res)[0]
    out["cider"] = Cider().compute_score(gts, res)[0]
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        out["meteor"] = Meteor().compute_score(gts, res)[0]
    return out


@pytest.mark.shared_data
def test_equals_pycocoevalcap_on_iu_reports(shared_data):
    hyps, refs = _iu_pairs(shared_data, 300)
    hyps[3] = ""  # an empty hypothesis inside a corpus
    ours = compute_nlg(hyps, refs, meteor=False)
    theirs = _pycoco_scores(hyps, refs)
    for key in KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key
    assert ours["convention"]["name"] == "r2gen"
    assert ours["meteor"] is None and "meteor=False" in ours["meteor_unavailable"]


@pytest.mark.slow  # two METEOR JVM start-ups (ours and pycocoevalcap's): ~15 s idle, more on a busy machine
@pytest.mark.shared_data
@pytest.mark.skipif(
    meteor_unavailable_reason() is not None, reason="METEOR needs Java and pycocoevalcap's jar"
)
def test_meteor_equals_pycocoevalcap_with_multiple_references(shared_data):
    hyps, refs = _iu_pairs(shared_data, 40)
    multi = [[r, refs[(i + 1) % len(refs)]] if i % 3 == 0 else r for i, r in enumerate(refs)]
    ours = compute_nlg(hyps, multi, return_per_example=True)
    theirs = _pycoco_scores(hyps, [m if isinstance(m, list) else [m] for m in multi], meteor=True)
    for key in (*KEYS, "meteor"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key
    assert len(ours["per_example"]["meteor"]) == 40


@pytest.mark.skipif(meteor_unavailable_reason() is not None, reason="needs Java")
def test_ptb_convention_differs_from_r2gen_and_matches_pycoco_tokenizer():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    hyps = ["The lungs are clear. No effusion.", "Heart size is normal, no pneumothorax."]
    refs = ["The lungs are clear. There is no effusion.", "Normal heart size. No pneumothorax."]
    ptb = compute_nlg(hyps, refs, tokenizer="ptb", meteor=False)
    tok = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(hyps + refs)})
    theirs = _pycoco_scores([tok[0][0], tok[1][0]], [tok[2][0], tok[3][0]])
    for key in KEYS:
        assert ptb[key] == pytest.approx(theirs[key], abs=1e-4), key
    raw = compute_nlg(hyps, refs, meteor=False)
    assert ptb["convention"]["tokenizer"] == "ptb" and raw["bleu_1"] != pytest.approx(ptb["bleu_1"])


@pytest.mark.shared_data
@pytest.mark.skipif(meteor_unavailable_reason() is not None, reason="needs Java")
def test_ptb_convention_equals_pycocoevalcap_on_raw_iu_reports(shared_data):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    with open(shared_data / "iu_xray" / "indiana_reports.csv", newline="") as f:
        refs = [r["findings"] for r in csv.DictReader(f) if r["findings"].strip()][:200]
    hyps = refs[:]
    random.Random(1).shuffle(hyps)
    hyps[5] = ""
    ours = compute_nlg(hyps, refs, tokenizer="ptb", meteor=False)
    captions = {i: [{"caption": t}] for i, t in enumerate(hyps + refs)}
    with contextlib.redirect_stdout(io.StringIO()):
        tok = PTBTokenizer().tokenize(captions)
    theirs = _pycoco_scores([tok[i][0] for i in range(200)], [tok[200 + i][0] for i in range(200)])
    for key in KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key
    assert ours["convention"]["name"] == "coco-ptb"
    raw = compute_nlg(hyps, refs, meteor=False)
    assert raw["bleu_4"] != pytest.approx(ours["bleu_4"], abs=1e-3)


def test_meteor_unavailable_without_java(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    out = compute_nlg(["the lungs are clear ."], ["the lungs are clear ."])
    assert out["meteor"] is None
    assert "java" in out["meteor_unavailable"].lower()
    assert out["bleu_4"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(RuntimeError, match="Java"):
        compute_nlg(["a b"], ["a b"], tokenizer="ptb", meteor=False)


def test_identical_reports_score_perfectly_and_empty_hypothesis_zero():
    refs = ["the heart is normal in size .", "no pleural effusion or pneumothorax .", "mild cardiomegaly ."]
    same = compute_nlg(refs, refs, meteor=False)
    assert same["bleu_4"] == pytest.approx(1.0, abs=1e-6) and same["rouge_l"] == pytest.approx(1.0)
    assert same["cider"] > 0
    empty = compute_nlg(["", "", ""], refs, meteor=False, return_per_example=True)
    assert empty["bleu_1"] == pytest.approx(0.0, abs=1e-6)
    assert empty["rouge_l"] == 0.0 and empty["cider"] == 0.0
    assert empty["per_example"]["rouge_l"] == [0.0, 0.0, 0.0]


def test_r2gen_cleaning():
    raw = "1. The heart is normal. 2. No effusion; lungs clear!"
    assert clean_report_r2gen(raw) == "the heart is normal . no effusion lungs clear ."
    out = compute_nlg([raw], [raw.lower()], normalize="r2gen", meteor=False)
    assert out["convention"]["normalize"] == "r2gen" and out["rouge_l"] == pytest.approx(1.0)


def test_lcs_matches_dynamic_programming():
    from pycocoevalcap.rouge.rouge import my_lcs

    rng = random.Random(1)
    for _ in range(200):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 30))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 30))]
        assert lcs_length(a, b) == (my_lcs(a, b) if a and b else 0)


@pytest.mark.parametrize(
    ("predictions", "references", "error", "match"),
    [
        (["a"], ["a", "b"], ValueError, "1 predictions but 2 references"),
        ([None], ["a"], TypeError, r"predictions\[0\] is NoneType"),
        (["a"], [3], TypeError, r"references\[0\]"),
        (["a"], [""], ValueError, r"references\[0\] is empty"),
        ("a b", ["a b"], TypeError, "not a single string"),
        ([], [], ValueError, "no predictions"),
    ],
)
def test_bad_input_gives_clear_errors(predictions, references, error, match):
    with pytest.raises(error, match=match):
        compute_nlg(predictions, references, meteor=False)


def test_bad_options():
    with pytest.raises(ValueError, match="tokenizer"):
        compute_nlg(["a"], ["a"], tokenizer="spacy")
    with pytest.raises(ValueError, match="normalize"):
        compute_nlg(["a"], ["a"], normalize="mimic")
