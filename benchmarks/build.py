"""Benchmark of the LRRG builder: throughput (num_proc 1 vs 2), warm-cache rerun, peak memory 2k vs 8k studies.

Prints ONE JSON object. Every build runs in its own subprocess (clean memory accounting):

- `throughput`: studies per second building N phantom studies (default 2,000) with `--num-proc 1` and `2`,
  and their ratio;
- `warm_rerun_fraction`: time of the same build rerun with a warm cache / the cold build (goal <= 0.1);
- `peak_rss`: peak resident memory of builds of M and 4M studies (default 2,000 / 8,000) and their
  ratio (goal <= 1.2: the builder streams).

`--quick` uses 200 / 200 / 800 studies.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worker(args: argparse.Namespace) -> None:
    """One build in this process; prints its timing and peak RSS as JSON."""
    logging.basicConfig(level=logging.WARNING)
    import datasets  # noqa: F401  (imports are process start-up, not build work: keep them out of the timing)

    import lrrg.dataset_scripts.aqaa  # noqa: F401
    import lrrg.dataset_scripts.degradations  # noqa: F401
    import lrrg.dataset_scripts.hub  # noqa: F401
    from lrrg.dataset_scripts.builder import build_lrrg

    kinds = args.kinds.split(",") if args.kinds else None
    started = time.perf_counter()
    dataset = build_lrrg(
        "phantom", args.out, num_studies=args.studies, num_proc=args.num_proc, image_size=args.size,
        synthetic_kinds=kinds, progress=False, print_summary=False,
    )
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows = {split: len(part) for split, part in dataset.items()}
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "worker_peak_rss_mb": children_kb / 1024, "rows": rows}))


def _run(out: Path, studies: int, num_proc: int, size: int, kinds: str | None) -> dict:
    command = [sys.executable, __file__, "--worker", "--out", str(out), "--studies", str(studies),
               "--num-proc", str(num_proc), "--size", str(size)]
    if kinds:
        command += ["--kinds", kinds]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"build subprocess failed ({' '.join(command)}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Runs the measurements and prints the JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast run")
    parser.add_argument("--studies", type=int, default=None, help="studies of the throughput builds (default 2000)")
    parser.add_argument("--memory-studies", type=int, default=None, help="smaller memory build (default 2000; larger is 4x)")
    parser.add_argument("--size", type=int, default=128, help="phantom image side (default 128)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--num-proc", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--kinds", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    studies = args.studies or (200 if args.quick else 2000)
    memory_small = args.memory_studies or (200 if args.quick else 2000)
    # Memory runs: small images and two synthetic kinds keep them short; streaming is what is measured.
    memory_kinds, memory_size = "gaussian_noise,motion_blur", 64
    with tempfile.TemporaryDirectory(prefix="lrrg-build-bench-") as folder:
        root = Path(folder)
        cold1 = _run(root / "p1", studies, 1, args.size, None)
        warm = _run(root / "p1", studies, 1, args.size, None)
        cold2 = _run(root / "p2", studies, 2, args.size, None)
        small = _run(root / "m1", memory_small, 1, memory_size, memory_kinds)
        large = _run(root / "m4", memory_small * 4, 1, memory_size, memory_kinds)
    result = {
        "benchmark": "build",
        "quick": args.quick,
        "image_size": args.size,
        "throughput": {
            "studies": studies,
            "rows": cold1["rows"],
            "num_proc_1_studies_per_s": studies / cold1["seconds"],
            "num_proc_2_studies_per_s": studies / cold2["seconds"],
            "speedup_2_vs_1": cold1["seconds"] / cold2["seconds"],
        },
        "warm_rerun": {
            "cold_s": cold1["seconds"],
            "warm_s": warm["seconds"],
            "warm_rerun_fraction": warm["seconds"] / cold1["seconds"],
            "goal": "<= 0.1",
        },
        "peak_rss": {
            "image_size": memory_size,
            "synthetic_kinds": memory_kinds.split(","),
            "small_studies": memory_small,
            "large_studies": memory_small * 4,
            "small_mb": small["peak_rss_mb"],
            "large_mb": large["peak_rss_mb"],
            "ratio_large_vs_small": large["peak_rss_mb"] / small["peak_rss_mb"],
            "goal": "<= 1.2",
        },
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "build.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
