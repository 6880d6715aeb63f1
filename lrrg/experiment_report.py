"""Outputs of the main job: report.md, results.json, plots, and the rich summary on the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from .experiment import ARMS

_STRATUM_NAMES = {"test_hq": "HQ", "test_lq": "LQ (natural)", "test_synthetic": "LQ (synthetic)"}


def _ci(value: dict[str, float]) -> str:
    return f"{value['estimate']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def _drop(value: dict[str, float]) -> str:
    return f"{value['drop']:+.3f} [{value['low']:+.3f}, {value['high']:+.3f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _scores_section(results: dict) -> list[str]:
    scores = results["scores"]
    lines = ["## Clinical efficacy per arm and stratum", "",
             f"Macro F1 over the observations with a positive reference ({', '.join(results['observations'])}), "
             "seed-averaged, with 95% bootstrap CIs over test examples. CheXpert labels from the rule labeller.", ""]
    header = ["arm", *(_STRATUM_NAMES[s] for s in results["strata"])]
    rows = [[arm, *(_ci(scores[arm][s]["macro_f1"]) for s in results["strata"])] for arm in ARMS]
    rows.append(["always 'No Finding'", *(f"{results['baseline_no_finding'][s]:.3f}" for s in results["strata"])])
    lines += _table(header, rows) + [""]
    keys = ("chexbert_14_micro_f1", "chexbert_14_macro_f1", "chexbert_5_micro_f1", "chexbert_5_macro_f1", "example_f1")
    nlg_keys = [k for k in ("bleu_1", "bleu_4", "meteor", "rouge_l", "cider") if k in scores[ARMS[0]]["test_hq"].get("nlg", {})]
    lines += ["### Every metric", ""]
    rows = []
    for arm in ARMS:
        for stratum in results["strata"]:
            record = scores[arm][stratum]
            rows.append([arm, _STRATUM_NAMES[stratum], str(record["n"]), *(f"{record[k]:.3f}" for k in keys),
                         *(f"{record['nlg'][k]:.3f}" for k in nlg_keys)])
    lines += _table(["arm", "stratum", "n", *keys, *nlg_keys], rows) + [""]
    radgraph = results["radgraph"]
    if not radgraph["available"]:
        lines += [f"RadGraph F1: not available ({radgraph['reason']})", ""]
    return lines


def _drop_section(results: dict) -> list[str]:
    lines = ["## HQ -> LQ drop of macro F1", "", "Drop = HQ minus LQ (positive: accuracy lost), 95% bootstrap CI.", ""]
    rows = [[arm, *(_drop(results["drops"][arm][lq]) for lq in results["strata"][1:])] for arm in ARMS]
    lines += _table(["arm", *(f"HQ -> {_STRATUM_NAMES[s]}" for s in results["strata"][1:])], rows) + [""]
    return lines


def _comparison_section(results: dict) -> list[str]:
    comparison = results["comparison"]
    lines = ["## dual_loop vs erm_aug (the claim under test)", "",
             "Claim: the dual loop reduces the HQ->LQ drop compared with erm_aug without hurting HQ accuracy. "
             "Goal: drop ratio <= 0.5 with the CI of the drop difference excluding 0, and HQ macro F1 no worse "
             "than erm_aug by more than 0.01.", ""]
    rows = []
    for lq in results["strata"][1:]:
        diff, test, goal = comparison[lq]["drop_difference"], comparison[lq]["paired_test"], comparison["goal"][lq]
        ratio = "n/a (erm_aug has no drop)" if diff["drop_ratio"] is None else f"{diff['drop_ratio']:.2f}"
        rows.append([_STRATUM_NAMES[lq], f"{diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]",
                     ratio, f"{test['difference']:+.3f} (p={test['p_value']:.3f})", "met" if goal["met"] else "not met"])
    lines += _table(["LQ stratum", "drop(dual) - drop(aug) [95% CI]", "drop ratio", "paired test, example F1", "goal"], rows)
    hq = comparison["hq_macro_f1_difference"]
    lines += ["", f"HQ macro F1, dual_loop minus erm_aug: {hq:+.3f} (paired test p="
              f"{comparison['paired_test_hq']['p_value']:.3f}).", ""]
    lines += [f"**Verdict.** {verdict(results)}", ""]
    return lines


def verdict(results: dict) -> str:
    """One honest sentence on the claim, whatever the outcome."""
    goal = results["comparison"]["goal"]
    met = [ _STRATUM_NAMES[s] for s in results["strata"][1:] if goal[s]["met"]]
    seeds = len(results["configuration"]["seeds"])
    if met:
        return f"The goal is met on {', '.join(met)} ({seeds} seed(s))."
    parts = []
    for lq in results["strata"][1:]:
        diff = results["comparison"][lq]["drop_difference"]
        direction = "smaller" if diff["difference"] < 0 else "larger"
        certainty = "and the CI excludes 0" if diff["excludes_zero"] else "but the CI includes 0"
        parts.append(f"on {_STRATUM_NAMES[lq]} dual_loop's drop is {direction} than erm_aug's by "
                     f"{abs(diff['difference']):.3f} {certainty}")
    hq = results["comparison"]["hq_macro_f1_difference"]
    if hq < -0.01:
        # A smaller drop from a model that lost its HQ accuracy is no robustness: say so first.
        parts.insert(0, f"dual_loop's HQ macro F1 is {abs(hq):.3f} below erm_aug's (allowed: 0.01)")
    return f"The goal is not met ({seeds} seed(s)): " + "; ".join(parts) + "."


def _breakdown_section(results: dict) -> list[str]:
    breakdown = results["breakdown"]
    if not breakdown:
        return []
    lines = ["## Per degradation kind and severity (test_synthetic, macro F1)", ""]
    kinds = sorted(breakdown[ARMS[0]])
    severities = sorted({s for kind in kinds for s in breakdown[ARMS[0]][kind]}, key=int)
    header = ["kind", *(f"{arm} s{s}" for arm in ARMS for s in severities)]
    rows = [[kind, *(f"{breakdown[arm][kind].get(s, float('nan')):.3f}" for arm in ARMS for s in severities)]
            for kind in kinds]
    return lines + _table(header, rows) + ["", "![metric vs severity](plots/severity.png)", ""]


def render_report(results: dict) -> str:
    """The markdown report of one benchmark run."""
    config, timings = results["configuration"], results["timings"]
    lines = ["# LRRG benchmark report", "",
             f"Source `{config['source']}`, model `{config['model_config']}`, seeds {config['seeds']}, "
             f"{config['max_steps']} steps x batch {config['batch_size']} per arm; total "
             f"{timings['total_s'] / 60:.1f} min (build {timings['build_s']:.0f} s, train {timings['train_s']:.0f} s, "
             f"evaluate {timings['evaluate_s']:.0f} s).", "",
             f"Test sets: {', '.join(f'{k} {v}' for k, v in results['test_sizes'].items())}.", "",
             "> Research use only; not a medical device.", ""]
    lines += _scores_section(results) + _drop_section(results) + _comparison_section(results)
    lines += _breakdown_section(results)
    lines += ["## Plots", "", "![HQ vs LQ](plots/hq_vs_lq.png)", "", "![gradient cosine](plots/grad_cosine.png)", ""]
    if results.get("tuning"):
        lines += ["## Tuning (validation split only)", "", "```json", json.dumps(results["tuning"], indent=1), "```", ""]
    return "\n".join(lines)


def _plots(results: dict, training: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.25
    for i, arm in enumerate(ARMS):
        values = [results["scores"][arm][s]["macro_f1"] for s in results["strata"]]
        xs = [j + (i - 1) * width for j in range(len(results["strata"]))]
        ax.bar(xs, [v["estimate"] for v in values], width, label=arm,
               yerr=[[v["estimate"] - v["low"] for v in values], [v["high"] - v["estimate"] for v in values]])
    ax.set_xticks(range(len(results["strata"])), [_STRATUM_NAMES[s] for s in results["strata"]])
    ax.set_ylabel("macro F1 (95% CI)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "hq_vs_lq.png", dpi=110)
    plt.close(fig)
    breakdown = results["breakdown"]
    kinds = sorted(breakdown[ARMS[0]]) if breakdown else []
    cols = 5
    grid_rows = max(1, (len(kinds) + cols - 1) // cols)
    fig, axes = plt.subplots(grid_rows, cols, figsize=(3 * cols, 2.4 * grid_rows), squeeze=False, sharey=True)
    for ax, kind in zip(axes.ravel(), kinds):
        for arm in ARMS:
            severities = sorted(breakdown[arm][kind], key=int)
            ax.plot([int(s) for s in severities], [breakdown[arm][kind][s] for s in severities], marker="o", label=arm)
        ax.set_title(kind, fontsize=9)
        ax.set_xlabel("severity")
    for ax in axes.ravel()[len(kinds):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "severity.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, record in training.items():
        points = [(e["step"], e["grad_cosine"]) for e in record["step_logs"] if e.get("grad_cosine") is not None]
        if points:
            ax.plot(*zip(*points), label=run)
    ax.set_xlabel("step")
    ax.set_ylabel("cos(g_hq, g_lq)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "grad_cosine.png", dpi=110)
    plt.close(fig)


def write_outputs(results: dict, training: dict, out: Path) -> None:
    """Writes results.json (every number), report.md and the plots into `out`."""
    serialisable = dict(results)
    serialisable["training_logs"] = {run: record["step_logs"] for run, record in training.items()}
    (out / "results.json").write_text(json.dumps(serialisable, indent=1, default=str))
    _plots(results, training, out / "plots")
    (out / "report.md").write_text(render_report(results))


def print_summary(results: dict, out: Path) -> None:
    """A rich table of the headline numbers and where the files are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="LRRG benchmark: macro F1 (95% CI)")
    table.add_column("arm")
    for stratum in results["strata"]:
        table.add_column(_STRATUM_NAMES[stratum])
    table.add_column(f"drop HQ->{_STRATUM_NAMES[results['strata'][1]]}")
    for arm in ARMS:
        table.add_row(arm, *(_ci(results["scores"][arm][s]["macro_f1"]) for s in results["strata"]), _drop(results["drops"][arm][results["strata"][1]]))
    table.add_row("always 'No Finding'", *(f"{results['baseline_no_finding'][s]:.3f}" for s in results["strata"]), "")
    console = Console()
    console.print(table)
    console.print(verdict(results))
    console.print(f"report: {out / 'report.md'}\nresults: {out / 'results.json'}\nplots: {out / 'plots'}\n"
                  f"models: {out / 'models'}")


__all__ = ["print_summary", "render_report", "verdict", "write_outputs"]
