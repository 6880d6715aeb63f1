"""The paired collator, run_training and `lrrg train` with the real LRRG model on tiny phantom data."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value

from lrrg.trainer import (
    DataArguments,
    DegradationSampler,
    DualLoopConfig,
    ModelArguments,
    PairedQualityCollator,
)


@pytest.fixture(scope="module")
def phantom_dataset() -> DatasetDict:
    from lrrg.dataset_scripts import generate_phantom

    def rows(seeds, low):
        studies = [generate_phantom(seed, size=96) for seed in seeds]
        return {
            "image": [s.image for s in studies],
            "findings": [s.findings for s in studies],
            "impression": [s.impression for s in studies],
            "quality_label": [1 if seed in low else 0 for seed in seeds],
            "study_id": [f"s{seed}" for seed in seeds],
        }

    features = Features(
        {"image": Image(), "findings": Value("string"), "impression": Value("string"),
         "quality_label": ClassLabel(names=["high", "low"]), "study_id": Value("string")}
    )  # fmt: skip
    return DatasetDict(
        train=Dataset.from_dict(rows(range(8), low={3}), features=features),
        validation=Dataset.from_dict(rows(range(100, 104), low={101}), features=features),
    )


@pytest.fixture(scope="module")
def tiny_processor(phantom_dataset):
    from lrrg.modeling_lrrg.presets import build_model_and_processor

    train = phantom_dataset["train"]
    corpus = [f + " " + i for f, i in zip(train["findings"], train["impression"])]
    return build_model_and_processor("tiny", corpus=corpus, seed=0)


def test_sampler_is_deterministic_per_example_and_epoch_and_validates():
    sampler = DegradationSampler(kinds=["jpeg", "gaussian_noise"], severities=[2, 4], seed=3)
    assert sampler.sample(7, 0) == sampler.sample(7, 0)
    draws = {sampler.sample(7, epoch)[:2] for epoch in range(12)}
    assert len(draws) > 1  # a new epoch draws new degradations
    assert all(kind in ("jpeg", "gaussian_noise") and sev in (2, 4) for kind, sev in draws)
    only_five = DegradationSampler(severities=[1, 5], severity_weights=[0, 1])
    assert all(only_five.sample(k)[1] == 5 for k in range(20))
    with pytest.raises(ValueError, match="unknown degradation"):
        DegradationSampler(kinds=["smudge"])
    with pytest.raises(ValueError, match="severities"):
        DegradationSampler(severities=[0, 9])


def test_collator_pairs_views_natural_lq_and_degraded(phantom_dataset, tiny_processor):
    _, processor = tiny_processor
    train = phantom_dataset["train"]
    collator = PairedQualityCollator.for_dataset(processor, train, degradations=DegradationSampler(seed=1))
    assert collator.low_quality_value == 1
    rows = [train[i] for i in range(4)]  # row 3 is a natural low-quality study
    batch = collator(rows)
    assert set(batch) == {"input_ids", "attention_mask", "pixel_values", "labels", "lq_pixel_values"}
    assert batch["lq_pixel_values"].shape == batch["pixel_values"].shape
    assert torch.equal(batch["lq_pixel_values"][3], batch["pixel_values"][3])  # natural LQ: the same image
    assert not torch.equal(batch["lq_pixel_values"][0], batch["pixel_values"][0])  # degraded on the fly
    again = collator(rows)
    assert torch.equal(again["lq_pixel_values"], batch["lq_pixel_values"])  # deterministic
    moved = collator([rows[1], rows[0]])  # seeded per example, not per batch position
    assert torch.equal(moved["lq_pixel_values"][0], batch["lq_pixel_values"][1])
    collator.set_epoch(1)
    assert not torch.equal(collator(rows)["lq_pixel_values"], batch["lq_pixel_values"])


def test_collator_skips_a_bad_row_and_names_it(phantom_dataset, tiny_processor, caplog):
    _, processor = tiny_processor
    rows = [phantom_dataset["train"][i] for i in range(2)]
    rows[1] = {**rows[1], "findings": "", "impression": ""}
    batch = PairedQualityCollator(processor)(rows)
    assert batch["input_ids"].shape[0] == 1
    with pytest.raises(ValueError, match="study_id='s1'.*(?i:empty report)"):
        PairedQualityCollator(processor, skip_bad_examples=False)(rows)
    report_only = [{"image": rows[0]["image"], "report": "FINDINGS: clear lungs."}]
    assert PairedQualityCollator(processor)(report_only)["labels"].shape[0] == 1


def test_run_training_saves_a_loadable_model_and_evaluates_by_quality(phantom_dataset, tmp_path):
    from lrrg.modeling_lrrg import LrrgForConditionalGeneration, LrrgProcessor
    from lrrg.trainer import run_training

    args = DualLoopConfig(
        output_dir=str(tmp_path / "model"), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3,
        report_to="none", use_cpu=True, logging_steps=1, save_strategy="steps", save_steps=1,
        eval_strategy="steps", eval_steps=1, load_best_model_at_end=True, generation_max_new_tokens=4,
        per_device_eval_batch_size=4, disable_tqdm=True,
    )  # fmt: skip
    result = run_training(ModelArguments("tiny"), DataArguments(max_eval_samples=2), args, dataset=phantom_dataset)
    assert len(result.step_logs) == 2
    assert all("grad_cosine" in entry and "outer_loss" in entry for entry in result.step_logs)
    assert "eval_hq_loss" in result.eval_metrics and "eval_lq_loss" in result.eval_metrics
    assert "eval_lq_chexbert_14_micro_f1" in result.eval_metrics and "eval_hq_bleu_4" in result.eval_metrics
    # the best checkpoint is chosen by a low-quality metric
    state = result.trainer.state
    assert result.trainer.args.metric_for_best_model == "lq_chexbert_14_micro_f1"
    assert result.trainer.args.greater_is_better is True
    lq_scores = [e["eval_lq_chexbert_14_micro_f1"] for e in result.log_history if "eval_lq_chexbert_14_micro_f1" in e]
    assert len(lq_scores) >= 2 and state.best_metric == max(lq_scores[:2])
    assert state.best_model_checkpoint is not None
    model = LrrgForConditionalGeneration.from_pretrained(tmp_path / "model")
    processor = LrrgProcessor.from_pretrained(tmp_path / "model")
    card = (tmp_path / "model" / "README.md").read_text()
    assert "robust_mode `dual_loop`, 2 steps" in card and "Not recorded" not in card
    assert f"eval_lq_chexbert_14_micro_f1: {round(result.eval_metrics['eval_lq_chexbert_14_micro_f1'], 4)}" in card
    image = phantom_dataset["validation"][0]["image"]
    generated = model.generate(**processor(images=[image]), max_new_tokens=3)
    assert len(processor.batch_decode(generated)) == 1


def test_lrrg_train_command(phantom_dataset, tmp_path, capsys):
    from lrrg.cli import main

    phantom_dataset.save_to_disk(str(tmp_path / "data"))
    code = main([
        "train", "--dataset", str(tmp_path / "data"), "--model-config", "tiny", "--output_dir", str(tmp_path / "out"),
        "--robust_mode", "erm_aug", "--max_steps", "1", "--per_device_train_batch_size", "2", "--use_cpu",
        "--report_to", "none", "--save_strategy", "no", "--degradation_kinds", "jpeg,low_contrast",
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert json.loads(out[out.rindex('{\n  "output_dir"') :]) == summary
    assert summary["robust_mode"] == "erm_aug" and summary["train"]["train_loss"] > 0
    assert (tmp_path / "out" / "config.json").exists()


def test_missing_columns_give_clear_errors(phantom_dataset, tiny_processor):
    from lrrg.trainer import run_training

    train = phantom_dataset["train"]
    args = DualLoopConfig(output_dir="unused", use_cpu=True, report_to="none", max_steps=1)
    no_report = DatasetDict(train=train.remove_columns(["findings", "impression"]))
    with pytest.raises(ValueError, match="'train' split lacks a report column"):
        run_training(ModelArguments("tiny"), DataArguments(eval_split=None), args, dataset=no_report)
    no_image = DatasetDict(train=train.rename_column("image", "picture"))
    with pytest.raises(ValueError, match="lacks an 'image' column.*picture"):
        run_training(ModelArguments("tiny"), DataArguments(eval_split=None), args, dataset=no_image)
    _, processor = tiny_processor
    rows = [{k: v for k, v in train[i].items() if k != "image"} for i in range(2)]
    with pytest.raises(ValueError, match="first problem: study_id='s0': row has no 'image' column"):
        PairedQualityCollator(processor)(rows)
    rows = [{"image": train[0]["image"], "caption": "clear lungs"}]
    with pytest.raises(ValueError, match="no report column.*caption"):
        PairedQualityCollator(processor)(rows)
