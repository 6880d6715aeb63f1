"""Tests of `lrrg.metrics.robustness`: bootstrap CIs, drops, paired test, tables and plots."""

from __future__ import annotations

import numpy as np
import pytest

from lrrg.metrics.robustness import (
    bootstrap_ci,
    drop_with_ci,
    paired_randomization_test,
    per_sample_scores,
    robustness_report,
    to_markdown,
)


def test_bootstrap_is_seeded_and_covers_the_mean():
    x = np.random.default_rng(0).normal(0.5, 0.1, 500)
    a, b = bootstrap_ci(x, seed=3), bootstrap_ci(x, seed=3)
    assert a == b and a["num_resamples"] == 1000
    assert a["low"] < x.mean() < a["high"] and a["estimate"] == pytest.approx(x.mean())
    # the normal-theory interval half-width 1.96 * sd / sqrt(n) is what the bootstrap should find
    assert (a["high"] - a["low"]) / 2 == pytest.approx(1.96 * x.std() / np.sqrt(500), rel=0.15)
    assert bootstrap_ci(x, seed=4) != a


def test_bootstrap_custom_statistic_recomputes_a_corpus_metric():
    tp = np.array([1, 0, 1, 1], dtype=float)

    def recall(weights):
        return weights @ tp / weights.sum(1)

    out = bootstrap_ci(statistic=recall, num_samples=4, num_resamples=200)
    assert out["estimate"] == pytest.approx(0.75) and 0 <= out["low"] <= out["high"] <= 1


def test_drop_with_ci():
    rng = np.random.default_rng(1)
    hq, lq = rng.normal(0.6, 0.1, 400), rng.normal(0.4, 0.1, 300)
    out = drop_with_ci(hq, lq, seed=0)
    assert out["abs_drop"] == pytest.approx(hq.mean() - lq.mean())
    assert out["rel_drop"] == pytest.approx(out["abs_drop"] / hq.mean())
    assert out["abs_drop_low"] < out["abs_drop"] < out["abs_drop_high"] and out["abs_drop_low"] > 0.15
    with pytest.raises(ValueError, match="paired=True"):
        drop_with_ci(hq, lq, paired=True)
    assert drop_with_ci([0.0, 0.0], [0.0, 0.0])["rel_drop"] is None


def test_paired_randomization_test():
    rng = np.random.default_rng(2)
    a = rng.random(200)
    better = paired_randomization_test(a + 0.05, a, num_permutations=2000)
    assert better["p_value"] < 0.01 and better["difference"] == pytest.approx(0.05)
    noise = paired_randomization_test(a, a[::-1].copy(), num_permutations=2000, seed=1)
    assert noise["p_value"] > 0.05
    assert paired_randomization_test(a + 0.05, a, alternative="less", num_permutations=500)["p_value"] > 0.9
    with pytest.raises(ValueError, match="equally many"):
        paired_randomization_test(a, a[:10])


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [0.1, float("nan")]])
def test_bad_scores(bad):
    with pytest.raises(ValueError):
        bootstrap_ci(bad)


def test_report_tables_markdown_and_plots(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for system, offset in (("baseline", 0.0), ("dual-loop", 0.05)):
        records += [{"system": system, "stratum": "hq", "kind": "none", "severity": 0, "bleu_4": rng.random() * 0.5 + offset}
                    for _ in range(30)]  # fmt: skip
        records += [{"system": system, "stratum": "lq", "kind": "none", "severity": 0, "bleu_4": rng.random() * 0.3 + offset}
                    for _ in range(30)]  # fmt: skip
        records += [{"system": system, "stratum": "synthetic", "kind": kind, "severity": s, "bleu_4": rng.random() / s}
                    for kind in ("blur", "noise") for s in (1, 2, 3) for _ in range(5)]  # fmt: skip
    out = robustness_report(records, ["bleu_4"], num_resamples=200, out_dir=tmp_path)
    assert set(out["by_stratum"]["stratum"]) == {"hq", "lq", "synthetic"}
    assert len(out["by_severity"]) == 2 * (2 * 3 + 1)
    assert (out["drops"]["abs_drop"] > 0).all()
    assert "## HQ -> LQ drop" in out["markdown"] and "| baseline | hq | bleu_4 |" in out["markdown"]
    assert (tmp_path / "robustness.md").read_text() == out["markdown"]
    assert all(p.stat().st_size > 1000 for p in out["plots"]) and len(out["plots"]) == 2
    assert to_markdown(out["drops"], ["system", "abs_drop"]).count("\n") == 4
    with pytest.raises(ValueError, match="lack column"):
        robustness_report(records, ["meteor"])


def test_report_from_predictions_and_references():
    from lrrg.metrics.chexbert import compute_clinical_efficacy
    from lrrg.metrics.nlg import compute_nlg

    refs = ["the heart is normal in size .", "mild cardiomegaly .", "small left pleural effusion .",
            "left lower lobe atelectasis ."]  # fmt: skip
    weak = ["the heart is normal .", "", "no pleural effusion .", "left lower lobe atelectasis ."]
    records = [{"system": system, "stratum": stratum, "prediction": p, "reference": r}
               for system, preds in (("copy", refs), ("weak", weak)) for stratum in ("hq", "lq")
               for p, r in zip(preds, refs)]  # fmt: skip
    out = robustness_report(records, ["rouge_l", "cider", "example_f1"], num_resamples=100)
    copy = out["by_stratum"][out["by_stratum"]["system"] == "copy"]
    assert len(copy) == 6 and (copy[copy["metric"] != "cider"]["mean"] == 1.0).all()
    values = per_sample_scores(weak, refs, ["rouge_l", "cider", "example_f1"])
    nlg = compute_nlg(weak, refs, meteor=False, return_per_example=True)["per_example"]
    clinical = compute_clinical_efficacy(weak, refs, return_per_example=True)["per_example"]
    assert values["rouge_l"] == nlg["rouge_l"] and values["cider"] == nlg["cider"]
    assert values["example_f1"] == list(clinical["example_f1"]) and values["rouge_l"][1] == 0.0
    weak_hq = out["by_stratum"].query("system == 'weak' and stratum == 'hq' and metric == 'rouge_l'")["mean"]
    assert float(weak_hq.iloc[0]) == pytest.approx(np.mean(nlg["rouge_l"]))
    with pytest.raises(ValueError, match="no per-sample values"):
        per_sample_scores(refs, refs, ["bertscore"])
    with pytest.raises(ValueError, match="1 predictions but 4 references"):
        per_sample_scores(refs[:1], refs, ["rouge_l"])
