"""Scoring stage of the main job: every arm on every test stratum, drops with CIs, the paired comparison."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .experiment_eval import (
    STRATA,
    StratumScores,
    breakdown_rows,
    drop_ci,
    drop_difference_ci,
    generate_split_reports,
    headline_observations,
    macro_f1_ci,
    paired_test,
    reference_reports,
)

logger = logging.getLogger(__name__)

_CLINICAL_KEYS = ("chexbert_14_micro_f1", "chexbert_14_macro_f1", "chexbert_5_micro_f1", "chexbert_5_macro_f1",
                  "example_f1", "accuracy")


def _generate_all(args: Any, test_sets: dict, training: dict, out: Path) -> dict[tuple[str, str], list[str]]:
    """Generated reports per (run, stratum); finished strata are read back from `<out>/predictions`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .experiment import load_trained

    total = len(training) * sum(len(split) for split in test_sets.values())
    generated: dict[tuple[str, str], list[str]] = {}
    columns = (TextColumn("[bold]generating reports"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("generate", total=total)
        for run, record in training.items():
            model, processor = load_trained(Path(record["model_dir"]))
            for stratum, split in test_sets.items():
                cache = out / "predictions" / run / f"{stratum}-{len(split)}.jsonl"
                generated[run, stratum] = generate_split_reports(
                    model, processor, split, cache, max_new_tokens=args.max_new_tokens,
                    progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
    return generated


def _always_no_finding(references: list[dict], observations: list[str]) -> float:
    """Macro F1 of the trivial system that writes a normal report for every image."""
    from lrrg.metrics.chexbert.scoring import clinical_efficacy

    normal = [{"No Finding": 1}] * len(references)
    per_observation = clinical_efficacy(normal, references)["per_observation"]
    return float(np.mean([per_observation[o]["f1"] for o in observations])) if observations else 0.0


def _stratum_record(scores: list[StratumScores], args: Any, with_nlg: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"macro_f1": macro_f1_ci(scores, args.num_resamples), "n": len(scores[0])}
    for key in _CLINICAL_KEYS:
        record[key] = float(np.mean([s.clinical[key] for s in scores]))
    record["per_observation_f1"] = {
        o: float(np.mean([s.clinical["per_observation"][o]["f1"] for s in scores])) for o in scores[0].observations
    }
    if with_nlg:
        nlg = [s.nlg(meteor=False) for s in scores]
        record["nlg"] = {k: float(np.mean([n[k] for n in nlg])) for k in nlg[0] if nlg[0][k] is not None}
    return record


def _breakdown(scores: list[StratumScores], split: Any) -> dict[str, dict[str, float]]:
    """Seed-averaged macro F1 per degradation kind and severity on `test_synthetic`."""
    table: dict[str, dict[str, float]] = {}
    for (kind, severity), rows in breakdown_rows(split).items():
        table.setdefault(kind, {})[str(severity)] = float(np.mean([s.macro_f1(rows) for s in scores]))
    return table


def evaluate_arms(args: Any, test_sets: dict, training: dict, out: Path) -> dict[str, Any]:
    """Generates and scores every trained run on every stratum.

    Returns:
        `observations`, `baseline_no_finding`, `scores` (arm -> stratum -> metrics with CIs), `drops`
        (arm -> LQ stratum -> drop with CI), `breakdown` (arm -> kind -> severity -> macro F1),
        `comparison` (dual_loop vs erm_aug) and `radgraph` (availability).
    """
    from lrrg.metrics import label_reports

    from .experiment import ARMS

    strata = [s for s in STRATA if len(test_sets.get(s, ())) > 0]
    if "test_hq" not in strata or len(strata) < 2:
        raise ValueError(
            f"the test split has images only in {strata or 'no stratum'}: HQ and at least one LQ stratum are "
            "needed to measure a quality drop (use a larger source or more studies)"
        )
    skipped = [s for s in STRATA if s not in strata]
    if skipped:
        logger.warning("no test images in %s: those strata are left out of the report", skipped)
    test_sets = {s: test_sets[s] for s in strata}
    references = {stratum: reference_reports(split) for stratum, split in test_sets.items()}
    reference_labels = {stratum: label_reports(texts) for stratum, texts in references.items()}
    observations = headline_observations(reference_labels["test_hq"])
    if not observations:
        raise ValueError("no positive finding in the HQ test references: clinical efficacy cannot be measured")
    generated = _generate_all(args, test_sets, training, out)
    scores: dict[str, dict[str, list[StratumScores]]] = {arm: {s: [] for s in strata} for arm in ARMS}
    for (run, stratum), predictions in generated.items():
        arm = training[run]["arm"]
        scores[arm][stratum].append(
            StratumScores(predictions, references[stratum], observations, reference_labels=reference_labels[stratum])
        )
    lq_strata = strata[1:]
    results: dict[str, Any] = {
        "strata": strata,
        "observations": observations,
        "baseline_no_finding": {s: _always_no_finding(reference_labels[s], observations) for s in strata},
        "scores": {arm: {s: _stratum_record(scores[arm][s], args, with_nlg=True) for s in strata} for arm in ARMS},
        "drops": {
            arm: {lq: drop_ci(scores[arm]["test_hq"], scores[arm][lq], args.num_resamples) for lq in lq_strata}
            for arm in ARMS
        },
        "breakdown": {
            arm: _breakdown(scores[arm]["test_synthetic"], test_sets["test_synthetic"])
            for arm in ARMS if "test_synthetic" in strata
        },
        "radgraph": radgraph_availability(),
    }
    results["comparison"] = _compare(scores, lq_strata, args)
    return results


def _compare(scores: dict, lq_strata: list[str], args: Any) -> dict[str, Any]:
    """dual_loop vs erm_aug: the difference of drops with CIs, the paired test, the HQ cost, the goal."""
    dual, aug = scores["dual_loop"], scores["erm_aug"]
    comparison: dict[str, Any] = {}
    for lq in lq_strata:
        comparison[lq] = {
            "drop_difference": drop_difference_ci(dual["test_hq"], dual[lq], aug["test_hq"], aug[lq], args.num_resamples),
            "paired_test": paired_test(dual[lq], aug[lq]),
        }
    hq_dual = np.mean([s.macro_f1() for s in dual["test_hq"]])
    hq_aug = np.mean([s.macro_f1() for s in aug["test_hq"]])
    comparison["hq_macro_f1_difference"] = float(hq_dual - hq_aug)
    comparison["paired_test_hq"] = paired_test(dual["test_hq"], aug["test_hq"])
    goal = {}
    for lq in lq_strata:
        diff = comparison[lq]["drop_difference"]
        ratio = diff["drop_ratio"]
        goal[lq] = {
            "drop_ratio": ratio,
            "drop_ratio_le_0_5": ratio is not None and ratio <= 0.5,
            "ci_excludes_zero": diff["excludes_zero"] and diff["difference"] < 0,
            "hq_within_0_01": comparison["hq_macro_f1_difference"] >= -0.01,
        }
        goal[lq]["met"] = all(goal[lq][k] for k in ("drop_ratio_le_0_5", "ci_excludes_zero", "hq_within_0_01"))
    comparison["goal"] = goal
    return comparison


def radgraph_availability() -> dict[str, Any]:
    """Whether RadGraph F1 can be computed here; when not, the reason the report prints."""
    try:
        from lrrg.metrics.radgraph.annotator import load_annotator

        load_annotator()
    except Exception as error:  # noqa: BLE001 - any failure means "not available", with its reason shown
        return {"available": False, "reason": str(error).splitlines()[0][:300]}
    return {"available": True, "reason": ""}


__all__ = ["evaluate_arms", "radgraph_availability"]
