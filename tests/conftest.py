"""Shared pytest set-up: offline environment, the shared-data fixture, small helpers."""

from __future__ import annotations

import os

# Tests never touch the network; set before any Hugging Face library is imported.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from lrrg.shared_data import find_shared_data, shared_data_missing_reason  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The `../shared/data` folder; skips the test with a reason when it is absent."""
    path = find_shared_data()
    if path is None:
        pytest.skip(shared_data_missing_reason())
    return path


def pytest_collection_modifyitems(config, items):
    """Tests marked `shared_data` skip with a reason when the folder is absent."""
    if find_shared_data() is not None:
        return
    skip = pytest.mark.skip(reason=shared_data_missing_reason())
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)
