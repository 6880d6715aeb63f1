"""The training entry point: `run_training(model_args, data_args, training_args, dataset=...)`, used by `lrrg train`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from transformers.utils import logging

from .collator import (
    EVAL_VIEW_COLUMN,
    REPORT_COLUMNS,
    CollatorEpochCallback,
    DegradationSampler,
    PairedQualityCollator,
    example_report,
)
from .configuration_dual_loop import DualLoopConfig
from .dual_loop_trainer import DualLoopTrainer

__all__ = [
    "DataArguments",
    "ModelArguments",
    "TrainingResult",
    "build_compute_metrics",
    "load_training_dataset",
    "run_training",
]

logger = logging.get_logger(__name__)

DEFAULT_BEST_METRIC = "lq_chexbert_14_micro_f1"


@dataclass
class ModelArguments:
    """Which model to train."""

    model_config: str = field(
        default="tiny",
        metadata={"help": "'tiny', 'small', a saved LRRG model folder or an LrrgConfig JSON file."},
    )
    vision: str | None = field(default=None, metadata={"help": "Pretrained vision backbone (path or Hub id)."})
    text: str | None = field(default=None, metadata={"help": "Pretrained causal LM (path or Hub id)."})
    tokenizer: str | None = field(
        default=None, metadata={"help": "Tokenizer path or Hub id (default: trained on the training reports)."}
    )
    lora_r: int = field(default=0, metadata={"help": "LoRA rank; 0 trains every weight, > 0 only adapters."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_target_modules: str = field(
        default="c_attn,c_proj", metadata={"help": "Comma-separated module names that get LoRA adapters."}
    )


@dataclass
class DataArguments:
    """Which data to train on and how to make the low-quality views."""

    dataset: str | None = field(
        default=None,
        metadata={"help": "LRRG folder / Hub id (load_lrrg), or a `save_to_disk` DatasetDict with image + report."},
    )
    mimic_root: str | None = field(default=None, metadata={"help": "MIMIC-CXR-JPG folder for the LRRG labels config."})
    train_split: str = field(default="train", metadata={"help": "Training split."})
    eval_split: str | None = field(
        default="validation", metadata={"help": "Split for the quality-stratified eval sets (eval_hq_*, eval_lq_*)."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use the first N rows per eval set."})
    natural_lq: str = field(
        default="lq_view",
        metadata={
            "help": "Natural low-quality training studies: 'lq_view' (their image is the LQ view and also the "
            "HQ view) or 'drop' (train on HQ studies and their degradations only).",
            "choices": ["lq_view", "drop"],
        },
    )
    degradation_kinds: str | None = field(
        default=None, metadata={"help": "Comma-separated degradation kinds for LQ views (default: all)."}
    )
    degradation_severities: str = field(default="1,2,3,4,5", metadata={"help": "Comma-separated severities."})
    severity_weights: str | None = field(default=None, metadata={"help": "Comma-separated severity weights."})
    degradation_seed: int = field(default=0, metadata={"help": "Seed of the on-the-fly degradations."})

    def __post_init__(self):
        if self.natural_lq not in ("lq_view", "drop"):
            raise ValueError(f"natural_lq must be 'lq_view' or 'drop', got {self.natural_lq!r}")

    def sampler(self) -> DegradationSampler:
        """The configured `DegradationSampler`."""
        split = lambda text: [t.strip() for t in text.split(",") if t.strip()]  # noqa: E731
        return DegradationSampler(
            kinds=split(self.degradation_kinds) if self.degradation_kinds else None,
            severities=[int(s) for s in split(self.degradation_severities)],
            severity_weights=[float(w) for w in split(self.severity_weights)] if self.severity_weights else None,
            seed=self.degradation_seed,
        )


@dataclass
class TrainingResult:
    """What `run_training` returns: the trainer, metrics, the per-step logs and where the model was saved."""

    trainer: DualLoopTrainer
    train_metrics: dict[str, float]
    eval_metrics: dict[str, float]
    log_history: list[dict[str, Any]]
    output_dir: str

    @property
    def step_logs(self) -> list[dict[str, Any]]:
        """Training log entries (one per logging step: loss, loss_hq, loss_lq, outer_loss, grad_cosine, ...)."""
        return [entry for entry in self.log_history if "loss" in entry]


def load_training_dataset(data_args: DataArguments):
    """Loads the dataset named by `data_args.dataset` (a `save_to_disk` folder, else `load_lrrg`)."""
    if not data_args.dataset:
        raise ValueError("no dataset: pass --dataset PATH_OR_ID (an LRRG folder / Hub id or a saved DatasetDict)")
    path = data_args.dataset
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "dataset_dict.json")):
        from datasets import load_from_disk

        return load_from_disk(path)
    from lrrg.dataset_scripts import load_lrrg

    return load_lrrg(path, mimic_root=data_args.mimic_root)


def _is_low(dataset, collator: PairedQualityCollator):
    if "quality_label" not in dataset.column_names:
        return None
    return [collator.is_low_quality({"quality_label": v}) for v in dataset["quality_label"]]


def _check_columns(split, name: str) -> None:
    """A training or evaluation split needs `image` and a report column; say which is missing."""
    columns = list(split.column_names)
    missing = [] if "image" in columns else ["an 'image' column"]
    if not any(column in columns for column in REPORT_COLUMNS):
        missing.append("a report column ('findings' / 'impression', 'report' or 'text')")
    if missing:
        raise ValueError(f"the {name!r} split lacks {' and '.join(missing)}; its columns are {columns}")


def _prepare_splits(dataset, data_args: DataArguments, collator: PairedQualityCollator, evaluate: bool):
    if data_args.train_split not in dataset:
        raise ValueError(f"split {data_args.train_split!r} not in the dataset (splits: {list(dataset)})")
    train = dataset[data_args.train_split]
    _check_columns(train, data_args.train_split)
    if data_args.max_train_samples:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    if data_args.natural_lq == "drop":
        low = _is_low(train, collator)
        if low is not None:
            train = train.select([i for i, flag in enumerate(low) if not flag])
    if "pair_key" not in train.column_names:  # a stable per-row key seeds its degradations
        train = train.add_column("pair_key", list(range(len(train))))
    if not evaluate or not data_args.eval_split:
        return train, None
    if data_args.eval_split not in dataset:
        raise ValueError(f"eval split {data_args.eval_split!r} not in the dataset (splits: {list(dataset)})")
    split = dataset[data_args.eval_split]
    _check_columns(split, data_args.eval_split)
    if "pair_key" not in split.column_names:
        split = split.add_column("pair_key", list(range(len(split))))
    low = _is_low(split, collator)
    high = split if low is None else split.select([i for i, flag in enumerate(low) if not flag])
    eval_sets = {"hq": high, "lq": split}  # lq: natural LQ images, degraded copies of the HQ ones
    for name, subset in list(eval_sets.items()):
        if data_args.max_eval_samples:
            subset = subset.select(range(min(data_args.max_eval_samples, len(subset))))
        eval_sets[name] = subset.add_column(EVAL_VIEW_COLUMN, [name] * len(subset))
    return train, eval_sets


def build_compute_metrics(processor: Any, meteor: bool = False, labeller: str = "rules"):
    """`compute_metrics` for generated reports: `lrrg.metrics` NLG scores and CheXpert clinical efficacy.

    Args:
        processor: decodes generated ids and labels (`batch_decode`).
        meteor: also compute METEOR (needs Java). labeller: "rules" or "chexbert".

    Returns:
        A function `EvalPrediction -> dict[str, float]`.
    """
    import numpy as np

    from lrrg.metrics.chexbert import compute_clinical_efficacy
    from lrrg.metrics.nlg import compute_nlg

    pad = processor.tokenizer.pad_token_id

    def compute(eval_prediction) -> dict[str, float]:
        predictions = np.where(eval_prediction.predictions == -100, pad, eval_prediction.predictions)
        labels = np.where(eval_prediction.label_ids == -100, pad, eval_prediction.label_ids)
        generated = processor.tokenizer.batch_decode(predictions, skip_special_tokens=True)
        references = processor.tokenizer.batch_decode(labels, skip_special_tokens=True)
        generated = [text.strip() for text in generated]
        results = compute_nlg(generated, [text.strip() for text in references], meteor=meteor)
        clinical = compute_clinical_efficacy(generated, [text.strip() for text in references], backend=labeller)
        scores = {**results, **clinical}
        return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    return compute


def _build_model(model_args: ModelArguments, train, seed: int):
    from lrrg.modeling_lrrg.presets import build_model_and_processor

    corpus = None
    if model_args.tokenizer is None and model_args.text is None:
        from lrrg.modeling_lrrg import format_report

        text_columns = [c for c in REPORT_COLUMNS if c in train.column_names]
        corpus = [example_report(row, format_report) for row in train.select_columns(text_columns)]
    model, processor = build_model_and_processor(
        model_args.model_config, vision=model_args.vision, text=model_args.text,
        tokenizer=model_args.tokenizer, corpus=corpus, seed=seed,
    )  # fmt: skip
    if model_args.lora_r > 0:
        from peft import LoraConfig, get_peft_model

        targets = [t.strip() for t in model_args.lora_target_modules.split(",") if t.strip()]
        config = LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha, target_modules=targets)
        model = get_peft_model(model, config)
    return model, processor


def run_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: DualLoopConfig,
    dataset: Any = None,
    model: Any = None,
    processor: Any = None,
    compute_metrics: Any = "default",
    callbacks: list | None = None,
) -> TrainingResult:
    """Trains one arm (`training_args.robust_mode`) and saves a folder that `from_pretrained` loads.

    Args:
        model_args, data_args, training_args: the three argument dataclasses (`lrrg train` parses them).
        dataset: a `DatasetDict` (default: loaded from `data_args.dataset`).
        model, processor: a ready model and processor (default: built from `model_args`).
        compute_metrics: "default" (`build_compute_metrics`), None, or a callable.
        callbacks: extra `TrainerCallback`s.

    Returns:
        A `TrainingResult`. Arms run with the same seeds and data arguments see the same data order and
        the same degradations.
    """
    dataset = dataset if dataset is not None else load_training_dataset(data_args)
    evaluate = training_args.eval_strategy != "no" or training_args.do_eval
    probe = PairedQualityCollator.for_dataset(None, dataset[data_args.train_split])
    train, eval_sets = _prepare_splits(dataset, data_args, probe, evaluate)
    if model is None or processor is None:
        model, processor = _build_model(model_args, train, training_args.seed)
    collator = PairedQualityCollator(
        processor, degradations=data_args.sampler(), low_quality_value=probe.low_quality_value
    )
    if compute_metrics == "default":
        compute_metrics = build_compute_metrics(processor) if eval_sets and training_args.predict_with_generate else None
    if training_args.load_best_model_at_end and training_args.metric_for_best_model in (None, "loss"):
        logger.warning("metric_for_best_model is not set; selecting the best checkpoint by %s", DEFAULT_BEST_METRIC)
        training_args.metric_for_best_model = DEFAULT_BEST_METRIC
        training_args.greater_is_better = True
    trainer = DualLoopTrainer(
        model=model, args=training_args, train_dataset=train, eval_dataset=eval_sets,
        data_collator=collator, processing_class=processor, compute_metrics=compute_metrics,
        callbacks=[CollatorEpochCallback(collator), *(callbacks or [])],
    )  # fmt: skip
    output = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    eval_metrics = trainer.evaluate() if eval_sets else {}
    model_card_info = _card_info(data_args, training_args, len(train), trainer.state.global_step, eval_metrics)
    _save_final(trainer, processor, training_args.output_dir, model_card_info)
    return TrainingResult(
        trainer=trainer, train_metrics=dict(output.metrics), eval_metrics=dict(eval_metrics),
        log_history=list(trainer.state.log_history), output_dir=training_args.output_dir,
    )  # fmt: skip


def _card_info(data_args: Any, training_args: DualLoopConfig, num_train: int, steps: int, eval_metrics: dict) -> dict:
    """What the saved model card says about its training data and evaluation."""
    source = data_args.dataset or "a dataset passed in Python"
    info: dict[str, Any] = {
        "training_data": f"{source}, split `{data_args.train_split}` ({num_train:,} examples), "
        f"robust_mode `{training_args.robust_mode}`, {steps} steps, seed {training_args.seed}.",
        "metrics": {k: round(float(v), 4) for k, v in eval_metrics.items() if isinstance(v, (int, float))},
    }
    if data_args.dataset and not os.path.exists(data_args.dataset) and data_args.dataset.count("/") == 1:
        info["datasets"] = [data_args.dataset]  # a Hub dataset id: the card's front matter links it
    return info


def _save_final(trainer: DualLoopTrainer, processor: Any, output_dir: str, card_info: dict | None = None) -> None:
    """Saves model + processor; LoRA adapters are merged so that `from_pretrained` loads the folder."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    if card_info and hasattr(model, "card_info"):
        model.card_info.update(card_info)
    if trainer.args.should_save:
        model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
    trainer.accelerator.wait_for_everyone()

