"""Data side of LRRG: phantoms, degradations, AQAA (quality assessment), sources and the benchmark builder.

Names are re-exported lazily from their modules so that importing one part stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY_EXPORTS: dict[str, str] = {
    # label vocabulary
    "CHEXPERT_OBSERVATIONS": ".observations",
    "COMMON_5_OBSERVATIONS": ".observations",
    # phantom radiographs (the embedded default data)
    "PhantomStudy": ".phantoms",
    "generate_phantom": ".phantoms",
    "iter_phantom_studies": ".phantoms",
    # degradation simulator
    "DEGRADATION_KINDS": ".degradations",
    "KIND_TO_CRITERION": ".degradations",
    "compose": ".degradations",
    "degrade": ".degradations",
    # AQAA
    "CRITERIA": ".aqaa",
    "QualityAgent": ".aqaa",
    "QualityReport": ".aqaa",
    # sources and the benchmark
    "StudyRecord": ".sources",
    "build_lrrg": ".builder",
    "load_lrrg": ".hub",
}

__all__ = list(_LAZY_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
