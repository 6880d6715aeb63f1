"""Robustness tables (per stratum, degradation kind and severity; HQ->LQ drops) and their plots."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .per_sample import add_per_sample_scores
from .stats import bootstrap_ci, drop_with_ci

logger = logging.getLogger(__name__)

__all__ = [
    "drop_table",
    "plot_hq_vs_lq",
    "plot_metric_vs_severity",
    "robustness_report",
    "summary_table",
    "to_markdown",
]


def _frame(records):
    import pandas as pd

    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if df.empty:
        raise ValueError("no per-sample records to summarise")
    if "system" not in df:
        df = df.assign(system="system")
    return df


def _check_columns(df, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"the per-sample records lack column(s) {missing}; columns present: {list(df.columns)}"
        )


def summary_table(
    records,
    metrics: Sequence[str],
    by: Sequence[str] = ("system", "stratum"),
    num_resamples: int = 1000,
    seed: int = 0,
):
    """Mean of each metric per group with a bootstrap 95% CI.

    Args:
        records: per-sample rows (DataFrame or dicts) with the `by` columns and one column per metric.
        metrics: metric columns. by: grouping columns, e.g. ("system", "stratum") or ("system", "kind", "severity").

    Returns:
        A DataFrame: the `by` columns, `metric`, `mean`, `ci_low`, `ci_high`, `n`.
    """
    import pandas as pd

    df = _frame(records)
    _check_columns(df, [*by, *metrics])
    rows = []
    for key, group in df.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            values = group[metric].dropna().to_numpy(dtype=np.float64)
            if values.size == 0:
                continue
            ci = bootstrap_ci(values, num_resamples=num_resamples, seed=seed)
            rows.append({**dict(zip(by, key)), "metric": metric, "mean": ci["estimate"], "ci_low": ci["low"],
                         "ci_high": ci["high"], "n": int(values.size)})  # fmt: skip
    return pd.DataFrame(rows)


def drop_table(
    records, metrics: Sequence[str], hq: str = "hq", lq: str = "lq", num_resamples: int = 1000, seed: int = 0
):
    """Per system and metric, the HQ -> LQ drop (absolute and relative) with bootstrap CIs (`drop_with_ci`)."""
    import pandas as pd

    df = _frame(records)
    _check_columns(df, ["stratum", *metrics])
    rows = []
    for system, group in df.groupby("system", sort=True):
        for metric in metrics:
            hq_values = group.loc[group["stratum"] == hq, metric].dropna().to_numpy(dtype=np.float64)
            lq_values = group.loc[group["stratum"] == lq, metric].dropna().to_numpy(dtype=np.float64)
            if hq_values.size == 0 or lq_values.size == 0:
                logger.warning(
                    "system %s, metric %s: no %s or no %s samples; drop skipped", system, metric, hq, lq
                )
                continue
            drop = drop_with_ci(hq_values, lq_values, num_resamples=num_resamples, seed=seed)
            rows.append({"system": system, "metric": metric, **drop})
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def to_markdown(table, columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of a DataFrame (no extra dependency); `mean` gets its CI beside it."""
    columns = list(columns or table.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for _, row in table.iterrows():
        cells = []
        for c in columns:
            if c == "mean" and "ci_low" in row and "ci_low" not in columns:
                cells.append(f"{_fmt(row['mean'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]")
            else:
                cells.append(_fmt(row[c]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_metric_vs_severity(
    records, metric: str, out_path: str | Path, num_resamples: int = 1000, seed: int = 0
):
    """One panel per degradation kind: the metric's mean (with 95% CI) against severity, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary_table(records, [metric], ("system", "kind", "severity"), num_resamples, seed)
    kinds = sorted(k for k in table["kind"].unique() if k != "none")
    if not kinds:
        raise ValueError("no degraded samples (every `kind` is 'none'): nothing to plot against severity")
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        for system, part in table[table["kind"] == kind].groupby("system"):
            part = part.sort_values("severity")
            ax.errorbar(part["severity"], part["mean"], yerr=[part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]],
                        marker="o", capsize=3, label=str(system))  # fmt: skip
        ax.set_title(kind)
        ax.set_xlabel("severity")
    axes[0][0].set_ylabel(metric)
    axes[0][-1].legend(fontsize="small")
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path


def plot_hq_vs_lq(records, metric: str, out_path: str | Path, strata: Sequence[str] = ("hq", "lq"),
                  num_resamples: int = 1000, seed: int = 0):  # fmt: skip
    """Grouped bars: the metric's mean (95% CI) on each stratum, per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary_table(records, [metric], ("system", "stratum"), num_resamples, seed)
    table = table[table["stratum"].isin(strata)]
    if table.empty:
        raise ValueError(f"no samples in the strata {list(strata)}")
    systems = sorted(table["system"].unique())
    width = 0.8 / len(strata)
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(systems), 3))
    for k, stratum in enumerate(strata):
        part = table[table["stratum"] == stratum].set_index("system").reindex(systems)
        x = np.arange(len(systems)) + k * width
        ax.bar(x, part["mean"], width, yerr=[part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]],
               capsize=3, label=stratum.upper())  # fmt: skip
    ax.set_xticks(np.arange(len(systems)) + width * (len(strata) - 1) / 2, systems)
    ax.set_ylabel(metric)
    ax.legend()
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path


def robustness_report(records, metrics: Sequence[str], num_resamples: int = 1000, seed: int = 0,
                      out_dir: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    """All robustness tables (and, with `out_dir`, the markdown report and plots).

    Args:
        records: per-sample rows with `system` (optional), `stratum` ("hq" / "lq" / "synthetic"), optional `kind`
            and `severity` (synthetic degradations), and one column per metric; or, instead of the metric
            columns, `prediction` and `reference` text, scored per group by `add_per_sample_scores`.
        metrics: metric columns to summarise.
        out_dir: where to write `robustness.md` and `<metric>_hq_vs_lq.png` / `<metric>_vs_severity.png`.

    Returns:
        `{"by_stratum", "by_kind", "by_severity", "drops"}` DataFrames (kind tables only when `kind` is present),
        `markdown` (str) and `plots` (paths).
    """
    df = _frame(records)
    missing = [m for m in metrics if m not in df.columns]
    if missing and {"prediction", "reference"} <= set(df.columns):
        df = add_per_sample_scores(df, missing)
    out: dict[str, Any] = {
        "by_stratum": summary_table(df, metrics, ("system", "stratum"), num_resamples, seed)
    }
    has_kind = "kind" in df.columns and "severity" in df.columns
    if has_kind:
        out["by_kind"] = summary_table(df, metrics, ("system", "kind"), num_resamples, seed)
        out["by_severity"] = summary_table(df, metrics, ("system", "kind", "severity"), num_resamples, seed)
    out["drops"] = drop_table(df, metrics, num_resamples=num_resamples, seed=seed)
    sections = [("Per quality stratum", out["by_stratum"])]
    if has_kind:
        sections += [("Per degradation kind", out["by_kind"]), ("Per kind and severity", out["by_severity"])]
    drop_cols = ["system", "metric", "hq_mean", "lq_mean", "abs_drop", "abs_drop_low", "abs_drop_high", "rel_drop",
                 "rel_drop_low", "rel_drop_high"]  # fmt: skip
    parts = [f"## {title}\n\n{to_markdown(t, [c for c in t.columns if c not in ('ci_low', 'ci_high')])}"
             for title, t in sections]  # fmt: skip
    if not out["drops"].empty:
        parts.append(f"## HQ -> LQ drop (95% bootstrap CI, {num_resamples} resamples, seed {seed})\n\n"
                     f"{to_markdown(out['drops'], drop_cols)}")  # fmt: skip
    out["markdown"] = "\n".join(parts)
    out["plots"] = []
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "robustness.md").write_text(out["markdown"])
        for metric in metrics:
            out["plots"].append(
                plot_hq_vs_lq(
                    df, metric, out_dir / f"{metric}_hq_vs_lq.png", num_resamples=num_resamples, seed=seed
                )
            )
            if has_kind and (df["kind"] != "none").any():
                out["plots"].append(plot_metric_vs_severity(df, metric, out_dir / f"{metric}_vs_severity.png",
                                                            num_resamples, seed))  # fmt: skip
    return out
