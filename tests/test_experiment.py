"""The main job (`lrrg benchmark`): statistics helpers, end-to-end runs, determinism, real-image smoke test."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lrrg.experiment import BenchmarkArguments
from lrrg.experiment_eval import (
    StratumScores,
    drop_ci,
    drop_difference_ci,
    headline_observations,
    macro_f1_ci,
)

NORMAL = "FINDINGS: The lungs are clear. No pleural effusion. IMPRESSION: No acute cardiopulmonary process."
EFFUSION = "FINDINGS: Large right pleural effusion. IMPRESSION: Right pleural effusion."
CARDIO = "FINDINGS: The heart is enlarged. IMPRESSION: Cardiomegaly."


def _scores(predictions, references):
    from lrrg.metrics import label_reports

    observations = headline_observations(label_reports(references))
    return StratumScores(predictions, references, observations)


def test_headline_observations_are_the_positive_references():
    from lrrg.metrics import label_reports

    assert headline_observations(label_reports([NORMAL, EFFUSION, CARDIO])) == ["Cardiomegaly", "Pleural Effusion"]


def test_perfect_system_has_no_drop_and_a_worse_lq_system_has_one():
    references = [EFFUSION, CARDIO, NORMAL] * 6
    hq = _scores(references, references)
    assert hq.macro_f1() == pytest.approx(1.0)
    lq = _scores([NORMAL] * len(references), references)
    assert lq.macro_f1() == pytest.approx(0.0)
    drop = drop_ci([hq], [lq], num_resamples=200)
    assert drop["drop"] == pytest.approx(1.0)
    assert drop["low"] <= drop["drop"] <= drop["high"]
    ci = macro_f1_ci([hq], num_resamples=200)
    assert ci["estimate"] == pytest.approx(1.0)


def test_drop_difference_is_negative_when_system_a_degrades_less():
    references = [EFFUSION, CARDIO, NORMAL] * 8
    half = [EFFUSION, NORMAL, NORMAL] * 8  # keeps effusion, loses cardiomegaly
    hq_a, lq_a = _scores(references, references), _scores(references, references)
    hq_b, lq_b = _scores(references, references), _scores(half, references)
    result = drop_difference_ci([hq_a], [lq_a], [hq_b], [lq_b], num_resamples=300)
    assert result["difference"] < 0
    assert result["excludes_zero"]
    assert result["drop_ratio"] == pytest.approx(0.0)


def test_arguments_validate_and_fill_quick_defaults(tmp_path):
    with pytest.raises(ValueError, match="source must be one of"):
        BenchmarkArguments(source="chexpert")
    with pytest.raises(ValueError, match="needs --root"):
        BenchmarkArguments(source="mimic-cxr")
    quick = BenchmarkArguments(quick=True)
    assert quick.out.endswith("phantom-quick") and quick.max_steps < 100 and quick.synthetic_severities == [3]


def _tiny_run(out: Path, **overrides):
    from lrrg.experiment import run_benchmark

    # 64 studies, 60% degraded at acquisition: every test stratum has rows (6 test studies, 3 of them LQ).
    values = dict(out=str(out), num_studies=64, max_steps=3, batch_size=4, max_test_samples=4, num_proc=1,
                  synthetic_severities=[3], num_resamples=200, max_new_tokens=12, source_options={"lq_fraction": 0.6})
    values.update(overrides)
    return run_benchmark(BenchmarkArguments(**values))


@pytest.mark.slow
def test_tiny_benchmark_writes_everything_and_is_deterministic(tmp_path):
    first = _tiny_run(tmp_path / "a")
    out = tmp_path / "a"
    for name in ("report.md", "results.json", "plots/hq_vs_lq.png", "plots/severity.png", "plots/grad_cosine.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "dual_loop vs erm_aug" in report and "Verdict" in report and "not available" in report
    results = json.loads((out / "results.json").read_text())
    assert set(results["scores"]) == {"erm", "erm_aug", "dual_loop"}
    assert set(results["scores"]["erm"]) >= {"test_hq", "test_lq", "test_synthetic"}, "every stratum is scored"
    assert results["training_logs"]["dual_loop-seed0"], "per-step logs are kept"
    assert any("grad_cosine" in e for e in results["training_logs"]["dual_loop-seed0"])
    from lrrg.experiment import load_trained

    model, processor = load_trained(out / "models" / "dual_loop-seed0")
    assert model.config.model_type == "lrrg" and processor is not None
    second = _tiny_run(tmp_path / "b")
    for arm in ("erm", "erm_aug", "dual_loop"):
        for stratum in ("test_hq", "test_lq", "test_synthetic"):
            assert first["scores"][arm][stratum]["macro_f1"] == second["scores"][arm][stratum]["macro_f1"]
    assert first["training"]["dual_loop-seed0"]["train_metrics"]["train_loss"] == pytest.approx(
        second["training"]["dual_loop-seed0"]["train_metrics"]["train_loss"], abs=0, rel=0
    )


@pytest.mark.slow
def test_rerun_reuses_finished_work(tmp_path):
    _tiny_run(tmp_path)
    predictions = sorted((tmp_path / "predictions").rglob("*.jsonl"))
    assert predictions
    stamps = {p: p.stat().st_mtime_ns for p in predictions}
    results = _tiny_run(tmp_path)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in predictions), "finished predictions were recomputed"
    assert results["timings"]["train_s"] < 5, "finished arms were retrained"


@pytest.mark.slow
@pytest.mark.shared_data
def test_folder_source_with_real_radiographs_runs_end_to_end(tmp_path, shared_data):
    """The real radiographs of ../shared/data/cxr_images, their clinical notes as the report text."""
    images = shared_data / "cxr_images" / "images"
    with (shared_data / "cxr_images" / "metadata.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if (images / r["filename"]).is_file() and r["clinical_notes"].strip()]
    table = tmp_path / "metadata.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "subject_id", "findings", "impression", "view"])
        writer.writeheader()
        for row in rows[:60]:
            writer.writerow({"image": str(images / row["filename"]), "subject_id": row["patientid"],
                             "findings": row["clinical_notes"], "impression": "", "view": row["view"]})
    results = _tiny_run(tmp_path / "run", source="folder", root=str(images), source_options={"table": str(table)},
                        max_test_samples=3)
    assert results["test_sizes"]["test_hq"] > 0
    assert np.isfinite(results["scores"]["erm"]["test_hq"]["macro_f1"]["estimate"])


def test_verdict_names_an_hq_loss_before_a_smaller_drop():
    from lrrg.experiment_report import verdict

    drop = {"difference": -0.03, "excludes_zero": False}
    results = {
        "configuration": {"seeds": [0]}, "strata": ["test_hq", "test_lq"],
        "comparison": {"goal": {"test_lq": {"met": False}}, "test_lq": {"drop_difference": drop},
                       "hq_macro_f1_difference": -0.08},
    }  # fmt: skip
    text = verdict(results)
    assert text.startswith("The goal is not met (1 seed(s)): dual_loop's HQ macro F1 is 0.080 below erm_aug's")
    assert "drop is smaller than erm_aug's by 0.030 but the CI includes 0" in text
    results["comparison"]["hq_macro_f1_difference"] = 0.0
    assert "HQ macro F1" not in verdict(results)


@pytest.mark.slow
def test_quick_command_runs_end_to_end(tmp_path, capsys):
    """`lrrg benchmark --quick`, as a user types it: every output, a loadable model, the summary printed."""
    from lrrg.cli import main

    out = tmp_path / "quick"
    assert main(["benchmark", "--quick", "--out", str(out), "--num-proc", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["configuration"]["quick"] is True and results["configuration"]["max_steps"] == 40
    assert set(results["scores"]) == {"erm", "erm_aug", "dual_loop"}
    assert all(np.isfinite(results["scores"][arm]["test_hq"]["macro_f1"]["estimate"]) for arm in results["scores"])
    for name in ("report.md", "plots/hq_vs_lq.png", "plots/severity.png", "plots/grad_cosine.png"):
        assert (out / name).is_file(), name
    assert (out / "models" / "dual_loop-seed0" / "model.safetensors").is_file()
    printed = capsys.readouterr()
    assert "LRRG benchmark: macro F1" in printed.out + printed.err and str(out / "report.md") in printed.out + printed.err
