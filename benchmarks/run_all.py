"""Runs every `benchmarks/*.py` script and prints one JSON object with all their figures.

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...] [--out benchmarks/results/all.json]
(also writes the same figures as a markdown table beside it, `all.md`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_script(script: Path, quick: bool, timeout_s: int) -> dict:
    """Runs one benchmark script; returns its JSON (or an error record that says why it has none)."""
    command = [sys.executable, str(script)] + (["--quick"] if quick else [])
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s} s"}
    elapsed = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        return {"error": f"exit code {done.returncode}", "stderr_tail": done.stderr[-2000:], "wall_s": elapsed}
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    # Scripts print one JSON object; it may span several lines (indent) and follow other output.
    for start in range(len(lines)):
        try:
            result = json.loads("\n".join(lines[start:]))
        except json.JSONDecodeError:
            continue
        if isinstance(result, dict):
            result.setdefault("wall_s", elapsed)
            return result
    return {"error": "printed no JSON object", "stdout_tail": done.stdout[-2000:], "wall_s": elapsed}


def _scalars(value: object, prefix: str = "", depth: int = 0) -> list[tuple[str, object]]:
    """The figures of one script's JSON: numbers, booleans and short strings, two levels deep."""
    if isinstance(value, dict):
        if depth >= 2:
            return []
        rows = []
        for key, item in value.items():
            rows += _scalars(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)
        return rows
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 60):
        return [(prefix, value)]
    return []


def markdown_table(results: dict) -> str:
    """A markdown table of every script's headline figures (the README's performance table)."""
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for script, result in results.items():
        for name, value in _scalars(result):
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"| {script} | {name} | {shown} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--only", nargs="*", default=None, help="script names without .py")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per script")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "all.json")
    args = parser.parse_args()
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    if args.only:
        scripts = [p for p in scripts if p.stem in set(args.only)]
    results = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for script in scripts:
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        results[script.stem] = run_script(script, args.quick, args.timeout)
        # Written after every script, so an interrupted run keeps the figures it has.
        args.out.write_text(json.dumps(results, indent=2))
        args.out.with_suffix(".md").write_text(markdown_table(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
