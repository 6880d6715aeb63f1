"""LRRG metrics: NLG (`nlg`), clinical efficacy (`chexbert`), RadGraph F1 (`radgraph`), robustness (`robustness`).

Each subpackage is also an `evaluate` module: `evaluate.load("metrics/<name>")`.
"""

from __future__ import annotations

import importlib

__all__ = ["chexbert", "label_reports", "nlg", "radgraph", "robustness"]


def label_reports(texts, backend="rules", **backend_kwargs):
    """Labels reports with the 14 CheXpert observations (see `lrrg.metrics.chexbert.label_reports`)."""
    from .chexbert import label_reports as _label_reports

    return _label_reports(texts, backend=backend, **backend_kwargs)


def __getattr__(name):
    if name in ("chexbert", "nlg", "radgraph", "robustness"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
