"""LRRG trainer: the dual-loop `Trainer`, its config, the pure maths, paired collation and the train entry."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY_EXPORTS = {
    "DualLoopConfig": ".configuration_dual_loop",
    "ROBUST_MODES": ".configuration_dual_loop",
    "DualLoopTrainer": ".dual_loop_trainer",
    "split_views": ".dual_loop_trainer",
    "PairedQualityCollator": ".collator",
    "DegradationSampler": ".collator",
    "run_training": ".train",
    "ModelArguments": ".train",
    "DataArguments": ".train",
    "TrainingResult": ".train",
    "build_compute_metrics": ".train",
}

__all__ = sorted(_LAZY_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lrrg.trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
