"""AQAA benchmark: detection AUROC per degradation kind and severity, attribution, false positives, speed.

Usage: python benchmarks/quality.py [--quick]. Prints ONE JSON object on stdout.

Images: phantoms (fresh seeds, not the calibration's) and the real radiographs of
`../shared/data/cxr_images` (when present), degraded at run time with every kind at severities 1-5.
Real films are scored twice: with the shipped phantom calibration, and with a calibration fitted on
the other half of the real films (the reference-set workflow AQAA is meant for).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lrrg.dataset_scripts.aqaa import QualityAgent
from lrrg.dataset_scripts.degradations import DEGRADATION_KINDS, KIND_TO_CRITERION, degrade
from lrrg.dataset_scripts.image_io import open_image
from lrrg.dataset_scripts.phantoms import generate_phantom
from lrrg.shared_data import find_shared_data

logger = logging.getLogger("benchmarks.quality")


def auroc(negatives: list[float], positives: list[float]) -> float | None:
    """Mann-Whitney AUROC (ties count one half); None when a class is empty."""
    if not negatives or not positives:
        return None
    neg, pos = np.asarray(negatives)[None, :], np.asarray(positives)[:, None]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def evaluate(agent: QualityAgent, images: list, severities: list[int], seed: int) -> dict:
    """Clean vs degraded for every kind and severity; returns AUROCs, detection and attribution."""
    clean = [agent.assess(image) for image in images]
    result = {"num_images": len(images), "clean_flagged_rate": float(np.mean([r.label == "low" for r in clean])),
              "kinds": {}}
    top1, anyhit = [], []
    for kind in DEGRADATION_KINDS:
        expected = KIND_TO_CRITERION[kind]
        per_kind = {}
        for severity in severities:
            reports = [agent.assess(degrade(image, kind, severity, seed + i)) for i, image in enumerate(images)]
            per_kind[str(severity)] = {
                "auroc_score": auroc([1 - r.score for r in clean], [1 - r.score for r in reports]),
                "auroc_criterion": auroc([r.flags[expected]["excess"] for r in clean],
                                         [r.flags[expected]["excess"] for r in reports]),
                "detection_rate": float(np.mean([r.label == "low" for r in reports])),
                "criterion_flag_rate": float(np.mean([expected in r.flagged_criteria for r in reports])),
            }
            if severity >= 3:
                top1 += [r.top_criterion == expected for r in reports if r.label == "low"]
                anyhit += [expected in r.flagged_criteria for r in reports if r.label == "low"]
        result["kinds"][kind] = per_kind
    high = [s for s in severities if s >= 3]
    for key in ("auroc_score", "auroc_criterion"):
        values = [result["kinds"][k][str(s)][key] for k in DEGRADATION_KINDS for s in high]
        result[f"min_{key}_severity_ge3"] = min(v for v in values if v is not None) if values else None
        result[f"kinds_{key}_ge_0.95_at_severity_ge3"] = sum(
            all(result["kinds"][k][str(s)][key] >= 0.95 for s in high) for k in DEGRADATION_KINDS)
    result["attribution_top1_severity_ge3"] = float(np.mean(top1)) if top1 else None
    result["attribution_any_flag_severity_ge3"] = float(np.mean(anyhit)) if anyhit else None
    return result


def speed(agent: QualityAgent, paths: list[Path], repeats: int) -> dict:
    """AQAA time per image vs the time to decode the same file at its original size."""
    decode, assess, ratios = [], [], []
    for path in paths:
        d = min(_timed(lambda p=path: open_image(p).load()) for _ in range(repeats))
        a = min(_timed(lambda p=path: agent.assess(p)) for _ in range(repeats))
        decode.append(d)
        assess.append(a)
        ratios.append(a / d)
    return {"num_files": len(paths), "decode_ms_median": 1000 * statistics.median(decode),
            "aqaa_ms_median": 1000 * statistics.median(assess),
            "aqaa_over_decode_total": sum(assess) / sum(decode),
            "aqaa_over_decode_median": statistics.median(ratios)}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def throughput(agent: QualityAgent, paths: list[str]) -> dict:
    """Images per second with assess_many at num_proc 1 and 2 (process start-up included).

    On a machine whose cores are busy with other work the 2-process figure cannot exceed 1 core's worth.
    """
    out = {}
    for num_proc in (1, 2):
        start = time.perf_counter()
        agent.assess_many(paths, num_proc=num_proc, progress=False)
        out[f"img_per_s_num_proc_{num_proc}"] = len(paths) / (time.perf_counter() - start)
    out["speedup_2_vs_1"] = out["img_per_s_num_proc_2"] / out["img_per_s_num_proc_1"]
    out["num_files"] = len(paths)
    return out


def _small(path: Path, limit: int):
    image = open_image(path)
    if max(image.size) > limit:
        image.thumbnail((limit, limit))
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (~minutes on 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    severities = [1, 3, 5] if args.quick else [1, 2, 3, 4, 5]
    num_phantoms = 10 if args.quick else 40
    agent = QualityAgent()
    phantoms = [generate_phantom(800_000 + i, size=(256, 512)[i % 2], bit_depth=(8, 16)[i // 2 % 2]).image
                for i in range(num_phantoms)]
    result: dict = {"benchmark": "quality", "quick": args.quick, "severities": severities}
    logger.info("phantoms: %d images", num_phantoms)
    result["phantoms"] = evaluate(agent, phantoms, severities, args.seed)
    fp_set = [generate_phantom(900_000 + i, size=256).image for i in range(40 if args.quick else 200)]
    result["false_positive_rate_clean_phantoms"] = float(np.mean([agent.assess(im).label == "low" for im in fp_set]))
    result["false_positive_num_phantoms"] = len(fp_set)
    shared = find_shared_data()
    folder = shared / "cxr_images" / "images" if shared else None
    if folder is None or not folder.is_dir():
        result["real"] = {"skipped": "shared data absent (../shared/data/cxr_images)"}
    else:
        paths = sorted(folder.glob("*"))
        reference, held_out = paths[1::2], paths[0::2]
        if args.quick:
            reference, held_out = reference[:24], held_out[::4][:12]
        held_images = [_small(p, 1024) for p in held_out]
        logger.info("real films: %d held out, %d reference", len(held_images), len(reference))
        result["real_default_calibration"] = evaluate(agent, held_images, severities, args.seed)
        fitted = QualityAgent()
        fitted.fit([_small(p, 1024) for p in reference], description="benchmark reference films")
        result["real_fitted_calibration"] = evaluate(fitted, held_images, severities, args.seed)
        result["speed_real_files"] = speed(agent, paths[:: (8 if args.quick else 1)], repeats=2 if args.quick else 3)
        files = [str(p) for p in paths[: (24 if args.quick else len(paths))]]
        # Enough work that process start-up (~0.3 s) does not dominate the comparison.
        result["throughput_real_files"] = throughput(agent, files * (4 if args.quick else 2))
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(16 if args.quick else 64):
            path = os.path.join(tmp, f"p{i}.png")
            generate_phantom(i, size=512).image.save(path)
            files.append(path)
        result["speed_phantom_png_512"] = speed(agent, [Path(f) for f in files[:8]], repeats=2)
        result["throughput_phantom_png_512"] = throughput(agent, files * (6 if args.quick else 4))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "quality.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
