"""LRRG: robust radiology report generation on low-quality chest X-rays.

The front door. Public names are re-exported lazily so that `import lrrg` stays cheap and importing
one part (e.g. `lrrg.metrics`) does not pull in the others (e.g. gradio).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY_EXPORTS: dict[str, str] = {
    # the model
    "LrrgConfig": "lrrg.modeling_lrrg",
    "LrrgForConditionalGeneration": "lrrg.modeling_lrrg",
    "LrrgPreTrainedModel": "lrrg.modeling_lrrg",
    "LrrgImageProcessor": "lrrg.modeling_lrrg",
    "LrrgProcessor": "lrrg.modeling_lrrg",
    "train_report_tokenizer": "lrrg.modeling_lrrg",
    # image quality
    "QualityAgent": "lrrg.dataset_scripts",
    "QualityReport": "lrrg.dataset_scripts",
    "degrade": "lrrg.dataset_scripts",
    "generate_phantom": "lrrg.dataset_scripts",
    # the benchmark dataset
    "build_lrrg": "lrrg.dataset_scripts",
    "load_lrrg": "lrrg.dataset_scripts",
    # training
    "DualLoopConfig": "lrrg.trainer",
    "DualLoopTrainer": "lrrg.trainer",
    # metrics
    "label_reports": "lrrg.metrics",
    # shared reference data
    "find_shared_data": "lrrg.shared_data",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lrrg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
