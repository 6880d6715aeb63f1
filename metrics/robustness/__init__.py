"""Robustness analysis: metrics per quality stratum / degradation, HQ->LQ drops, bootstrap CIs, paired tests."""

from __future__ import annotations

from .per_sample import PER_SAMPLE_METRICS, add_per_sample_scores, per_sample_scores
from .stats import bootstrap_ci, bootstrap_weights, drop_with_ci, paired_randomization_test
from .tables import (
    drop_table,
    plot_hq_vs_lq,
    plot_metric_vs_severity,
    robustness_report,
    summary_table,
    to_markdown,
)

__all__ = [
    "PER_SAMPLE_METRICS",
    "add_per_sample_scores",
    "bootstrap_ci",
    "bootstrap_weights",
    "drop_table",
    "drop_with_ci",
    "paired_randomization_test",
    "per_sample_scores",
    "plot_hq_vs_lq",
    "plot_metric_vs_severity",
    "robustness_report",
    "summary_table",
    "to_markdown",
]
