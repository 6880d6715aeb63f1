"""The LRRG Gradio Space (`lrrg.space_app`): quality verdict, generated report and stress test.

Names are re-exported lazily so that `import lrrg.space_app` does not import gradio or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY_EXPORTS: dict[str, str] = {
    "create_demo": ".app",
    "build_demo": ".app",
    "AppSettings": ".settings",
    "SpaceEngine": ".inference",
    "ReportGenerator": ".model_loading",
    "GeneratedReport": ".model_loading",
    "NO_MODEL_MESSAGE": ".model_loading",
    "find_newest_model": ".model_loading",
    "load_report_generator": ".model_loading",
    "collect_examples": ".examples",
    "localise": ".localization",
}

__all__ = list(_LAZY_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
