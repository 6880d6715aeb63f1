"""Tests of `lrrg.metrics.chexbert` and `lrrg.metrics.label_reports`: rule labeller, scores, CheXbert loading."""

from __future__ import annotations

import csv
import json

import pytest

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS, COMMON_5_OBSERVATIONS
from lrrg.metrics import label_reports
from lrrg.metrics.chexbert import (
    CHEXBERT_CONDITIONS,
    clinical_efficacy,
    compute_clinical_efficacy,
    f1_statistic,
    load_chexbert,
)

GOLD_TO_CHEXPERT = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Effusion": "Pleural Effusion",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
}


def _one(text):
    return label_reports([text])[0]


def test_rows_have_14_observations_in_standard_order():
    rows = label_reports(["Mild cardiomegaly. No pleural effusion.", ""])
    assert [list(r) for r in rows] == [list(CHEXPERT_OBSERVATIONS)] * 2
    assert rows[0]["Cardiomegaly"] == 1 and rows[0]["Pleural Effusion"] == 0 and rows[0]["No Finding"] is None
    assert all(v is None for v in rows[1].values())  # an empty report states nothing


@pytest.mark.parametrize(
    ("text", "observation", "label"),
    [
        ("There is no pneumothorax.", "Pneumothorax", 0),
        ("Pneumothorax is not seen.", "Pneumothorax", 0),
        ("No focal consolidation, pleural effusion or pneumothorax.", "Pleural Effusion", 0),
        ("Small left pleural effusion.", "Pleural Effusion", 1),
        ("Possible small left pleural effusion.", "Pleural Effusion", -1),
        ("Pneumonia cannot be excluded.", "Pneumonia", -1),
        ("Cannot exclude pneumonia.", "Pneumonia", -1),
        ("No pleural effusion, but there is bibasilar atelectasis.", "Atelectasis", 1),
        ("No effusion, possible atelectasis.", "Atelectasis", -1),
        ("No focal consolidation to suggest pneumonia.", "Consolidation", 0),
        ("No focal consolidation to suggest pneumonia.", "Pneumonia", 0),
        ("The heart is normal in size.", "Cardiomegaly", 0),
        ("Heart size is upper limits of normal.", "Cardiomegaly", -1),
        ("The heart is enlarged.", "Cardiomegaly", 1),
        ("Normal heart size, moderately enlarged tortuous aorta.", "Cardiomegaly", 0),
        ("Calcified granuloma in the right upper lobe.", "Lung Lesion", None),
        ("Prior granulomatous infection.", "Pneumonia", None),
        ("Small pericardial effusion.", "Pleural Effusion", None),
        ("Right PICC line tip in the SVC.", "Support Devices", 1),
        ("No significant change in cardiomegaly.", "Cardiomegaly", 1),
        ("Stable mild cardiomegaly.1.Mild pulmonary edema.", "Edema", 1),
    ],
)
def test_rule_labeller_negation_uncertainty_and_scope(text, observation, label):
    assert _one(text)[observation] == label


def test_no_finding_aggregation():
    assert _one("The lungs are clear. Heart size normal. No effusion.")["No Finding"] == 1
    assert _one("Right PICC line in place. Lungs are clear.")["No Finding"] == 1  # devices are not findings
    assert _one("Possible right lower lobe pneumonia.")["No Finding"] is None


def test_label_reports_bad_input():
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        label_reports(["ok", None])
    with pytest.raises(TypeError, match="not a single string"):
        label_reports("No effusion.")
    with pytest.raises(ValueError, match="backend"):
        label_reports(["x"], backend="gpt")


@pytest.mark.shared_data
def test_rule_labeller_against_human_gold_labels(shared_data):
    with open(shared_data / "iu_xray" / "indiana_reports.csv", newline="") as f:
        reports = {r["uid"]: f"{r['findings']}\n{r['impression']}" for r in csv.DictReader(f)}
    with open(shared_data / "iu_xray_labels" / "negbio_gold_dev.csv", newline="") as f:
        gold = list(csv.DictReader(f))
    rows = label_reports([reports[g["filename"].removeprefix("CXR")] for g in gold])
    f1s = {}
    for gold_name, name in GOLD_TO_CHEXPERT.items():
        truth = [g[gold_name] == "1" for g in gold]
        pred = [r[name] == 1 for r in rows]
        tp = sum(t and p for t, p in zip(truth, pred))
        f1s[name] = 2 * tp / (sum(truth) + sum(pred))
    macro = sum(f1s.values()) / len(f1s)
    assert macro >= 0.90, f1s
    assert min(f1s.values()) >= 0.75, f1s


@pytest.mark.shared_data
def test_f1chexbert_oracle_corpus_values(shared_data):
    oracle = json.loads((shared_data / "metric_oracles" / "radeval" / "metric_oracles.json").read_text())
    case = oracle["f1chexbert_5pairs"]
    out = compute_clinical_efficacy(case["hyps"], case["refs"])
    expected = case["expected"]
    for ours, theirs in [
        ("chexbert_14_micro_f1", "all14_micro_f1"),
        ("chexbert_14_micro_precision", "all14_micro_precision"),
        ("chexbert_14_micro_recall", "all14_micro_recall"),
        ("chexbert_14_macro_f1", "all14_macro_f1"),
        ("chexbert_5_micro_f1", "top5_micro_f1"),
        ("chexbert_5_macro_f1", "top5_macro_f1"),
    ]:
        assert out[ours] == pytest.approx(expected[theirs], rel=0.01), ours
    assert out["per_observation"]["Consolidation"]["f1"] == pytest.approx(expected["Consolidation_f1"])
    assert out["per_observation"]["No Finding"]["f1"] == pytest.approx(expected["No Finding_f1"])


def test_scores_hand_made_cases():
    refs = [
        "Mild cardiomegaly. Small right pleural effusion.",
        "Left lower lobe atelectasis.",
        "Lungs are clear.",
    ]
    same = compute_clinical_efficacy(refs, refs)
    for key in ("chexbert_14_micro_f1", "chexbert_5_micro_f1", "example_f1", "accuracy"):
        assert same[key] == 1.0
    assert same["uncertain_policy"] == "negative" and same["labeller"] == "rules"
    empty = compute_clinical_efficacy(["", "", ""], refs)
    assert empty["chexbert_14_micro_f1"] == 0.0 and empty["example_f1"] == 0.0
    with pytest.raises(ValueError, match="2 predictions but 3"):
        compute_clinical_efficacy(refs[:2], refs)


def test_uncertain_policy_and_per_example_counts_for_bootstrap():
    hyp = [{"Edema": -1}, {"Edema": 1}, {}]
    ref = [{"Edema": 1}, {"Edema": 1}, {"Cardiomegaly": 1}]
    neg = clinical_efficacy(hyp, ref, uncertain="negative", return_per_example=True)
    pos = clinical_efficacy(hyp, ref, uncertain="positive")
    assert (
        neg["per_observation"]["Edema"]["recall"] == 0.5 and pos["per_observation"]["Edema"]["recall"] == 1.0
    )
    assert pos["uncertain_policy"] == "positive"
    import numpy as np

    stat = f1_statistic(neg["per_example"], "macro", COMMON_5_OBSERVATIONS)
    assert stat(np.ones((1, 3)))[0] == pytest.approx(neg["chexbert_5_macro_f1"])
    with pytest.raises(ValueError, match="uncertain"):
        clinical_efficacy(hyp, ref, uncertain="ignore")


# -- CheXbert backend ----------------------------------------------------------------------------------------
def _tiny_tokenizer(tmp_path):
    from transformers import BertTokenizerFast

    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "no",
        "effusion",
        "the",
        "heart",
        "is",
        "enlarged",
        ".",
    ]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))


def _tiny_state_dict(chosen):
    """A random tiny CheXbert whose heads are forced to output the classes in `chosen` (head index -> class)."""
    import torch
    from transformers import BertConfig

    from lrrg.metrics.chexbert.model import _build_module

    torch.manual_seed(0)
    config = BertConfig(vocab_size=12, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)  # fmt: skip
    module = _build_module(config)
    with torch.no_grad():
        for i, head in enumerate(module.linear_heads):
            head.weight.zero_()
            head.bias.zero_()
            head.bias[chosen.get(i, 0)] = 5.0
    return module.state_dict(), config


def test_chexbert_loads_released_checkpoint_layout(tmp_path):
    import torch

    # head classes: 0 blank, 1 positive, 2 negative, 3 uncertain; heads follow CheXbert's CONDITIONS order
    chosen = {CHEXBERT_CONDITIONS.index("Cardiomegaly"): 1, CHEXBERT_CONDITIONS.index("Edema"): 3,
              CHEXBERT_CONDITIONS.index("Pleural Effusion"): 2}  # fmt: skip
    state, _ = _tiny_state_dict(chosen)
    released = {f"module.{k}": v for k, v in state.items()}
    released["module.bert.embeddings.position_ids"] = torch.arange(64)[None]
    path = tmp_path / "chexbert.pth"
    torch.save({"epoch": 3, "model_state_dict": released}, path)
    rows = label_reports(["the heart is enlarged .", "no effusion ."], backend="chexbert", checkpoint=str(path),
                         tokenizer=_tiny_tokenizer(tmp_path))  # fmt: skip
    assert list(rows[0]) == list(CHEXPERT_OBSERVATIONS)
    assert rows[0]["Cardiomegaly"] == 1 and rows[0]["Edema"] == -1 and rows[0]["Pleural Effusion"] == 0
    assert rows[1]["No Finding"] is None and rows[1]["Fracture"] is None


def test_chexbert_loads_hf_format_folder(tmp_path):
    from safetensors.torch import save_file

    state, config = _tiny_state_dict({CHEXBERT_CONDITIONS.index("No Finding"): 1})
    folder = tmp_path / "chexbert-hf"
    folder.mkdir()
    config.save_pretrained(folder)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    labeller = load_chexbert(checkpoint=str(folder), tokenizer=_tiny_tokenizer(tmp_path))
    assert labeller(["no effusion ."])[0]["No Finding"] == 1


def test_chexbert_without_weights_says_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv("LRRG_CHEXBERT_CHECKPOINT", raising=False)
    with pytest.raises(FileNotFoundError, match="chexbert.pth.*RRG_scorers"):
        label_reports(["x"], backend="chexbert")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        label_reports(["x"], backend="chexbert", checkpoint=str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    import torch

    torch.save({"weight": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="not a CheXbert checkpoint"):
        label_reports(["x"], backend="chexbert", checkpoint=str(bad))


class _NotAWeight:
    """A pickled object that is not a tensor: `torch.load(weights_only=True)` must refuse to build it."""


def test_chexbert_checkpoint_is_read_weights_only(tmp_path):
    import pickle

    import torch

    state, _ = _tiny_state_dict({})
    path = tmp_path / "chexbert.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}, "extra": _NotAWeight()}, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_chexbert(checkpoint=str(path), tokenizer=_tiny_tokenizer(tmp_path))
