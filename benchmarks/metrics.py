"""Benchmark of the metrics: NLG time vs pycocoevalcap, rule-labeller throughput, bootstrap time (one JSON)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import sys
import time

import numpy as np


def _pairs(n: int) -> tuple[list[str], list[str]]:
    from lrrg.metrics.nlg import clean_report_r2gen
    from lrrg.shared_data import find_shared_data, shared_data_missing_reason

    root = find_shared_data()
    if root is None:
        sys.exit(shared_data_missing_reason())
    with open(root / "iu_xray" / "indiana_reports.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["findings"].strip()]
    raw = [f"{r['findings']} {r['impression']}".strip() for r in rows]
    raw = (raw * (n // len(raw) + 1))[:n]
    refs = [clean_report_r2gen(t) for t in raw]
    hyps = refs[:]
    random.Random(0).shuffle(hyps)  # a shuffled pairing: realistic, imperfect hypotheses
    return hyps, refs, raw


def _pycocoevalcap(hyps, refs, meteor: bool) -> float:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: [r] for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its counts
        Bleu(4).compute_score(gts, res)
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        scorer.compute_score(gts, res)
        del scorer
    Rouge().compute_score(gts, res)
    Cider().compute_score(gts, res)
    return time.perf_counter() - start


def _nlg(hyps, refs, meteor: bool) -> tuple[float, dict]:
    from lrrg.metrics.nlg import compute_nlg

    start = time.perf_counter()
    out = compute_nlg(hyps, refs, meteor=meteor)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 pairs, 200 resamples, no METEOR")
    parser.add_argument("--num-pairs", type=int, default=None)
    args = parser.parse_args()
    n = args.num_pairs or (300 if args.quick else 3000)
    meteor = not args.quick
    from lrrg.metrics.nlg import meteor_unavailable_reason

    meteor = meteor and meteor_unavailable_reason() is None
    hyps, refs, raw = _pairs(n)

    # NLG: our module vs calling pycocoevalcap's scorers directly, each from a cold start (a fresh METEOR JVM)
    base = _pycocoevalcap(hyps, refs, meteor)
    ours, scores = _nlg(hyps, refs, meteor)
    from lrrg.metrics.nlg import MeteorScorer

    if MeteorScorer._shared is not None:
        MeteorScorer._shared.close()
        MeteorScorer._shared = None
    py_base = _pycocoevalcap(hyps, refs, False)
    py_ours, _ = _nlg(hyps, refs, False)

    # Rule labeller throughput on one core (this process is single-threaded)
    from lrrg.metrics import label_reports

    label_reports(raw[:50])  # compile the patterns
    start, cpu_start = time.perf_counter(), time.process_time()
    label_reports(raw)
    label_time, label_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    from lrrg.metrics.robustness import bootstrap_ci

    per_sample = np.random.default_rng(0).random(3000)
    resamples = 200 if args.quick else 1000
    start = time.perf_counter()
    bootstrap_ci(per_sample, num_resamples=resamples, seed=0)
    boot = time.perf_counter() - start

    result = {
        "num_pairs": n,
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
        "nlg": {
            "with_meteor": meteor,
            "seconds": round(ours, 3),
            "pycocoevalcap_seconds": round(base, 3),
            "time_ratio": round(ours / base, 3),
            "goal_time_ratio_max": 1.0,
            "python_scorers_seconds": round(py_ours, 3),
            "pycocoevalcap_python_scorers_seconds": round(py_base, 3),
            "python_scorers_time_ratio": round(py_ours / py_base, 3),
            "scores": {k: scores[k] for k in ("bleu_1", "bleu_4", "meteor", "rouge_l", "cider")},
        },
        "rules_labeller": {
            "reports": n,
            "seconds": round(label_time, 3),
            "cpu_seconds": round(label_cpu, 3),
            "reports_per_second": round(n / label_time, 1),
            "reports_per_cpu_second": round(n / label_cpu, 1),
            "goal_reports_per_second_min": 500,
        },
        "bootstrap": {
            "samples": 3000,
            "resamples": resamples,
            "seconds": round(boot, 3),
            "goal_seconds_max": 5.0,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
