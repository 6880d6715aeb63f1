"""The four `evaluate` modules load offline from the repository root and from their absolute folder paths."""

from __future__ import annotations

from pathlib import Path

import pytest

evaluate = pytest.importorskip("evaluate")

REPO = Path(__file__).resolve().parent.parent
ANNOTATION = {
    "entities": {"1": {"tokens": "effusion", "label": "Observation::definitely absent", "relations": []}}
}
CASES = {
    "nlg": ({"predictions": ["the lungs are clear ."], "references": ["the lungs are clear ."], "meteor": False},
            "bleu_4", 1.0),
    "chexbert": ({"predictions": ["Mild cardiomegaly."], "references": ["The heart is mildly enlarged."]},
                 "chexbert_14_micro_f1", 1.0),
    "radgraph": ({"predictions": ["no effusion"], "references": ["no effusion"], "hyp_annotations": [ANNOTATION],
                  "ref_annotations": [ANNOTATION]}, "radgraph_complete", 1.0),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_from_repo_root_and_from_elsewhere(name, monkeypatch, tmp_path):
    kwargs, key, expected = CASES[name]
    monkeypatch.chdir(REPO)
    relative = evaluate.load(f"metrics/{name}")
    assert relative.compute(**kwargs)[key] == pytest.approx(expected, abs=1e-6)
    monkeypatch.chdir(tmp_path)
    absolute = evaluate.load(str(REPO / "metrics" / name))
    assert absolute.compute(**kwargs)[key] == pytest.approx(expected, abs=1e-6)


def test_robustness_module(monkeypatch):
    monkeypatch.chdir(REPO)
    rob = evaluate.load("metrics/robustness")
    out = rob.compute(scores=[0.5, 0.7, 0.2, 0.4], strata=["hq", "hq", "lq", "lq"], num_resamples=200)
    assert out["drop"]["abs_drop"] == pytest.approx(0.3)
    assert set(out["per_stratum"]) == {"hq", "lq"}
