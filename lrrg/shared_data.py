"""Locate the real reference data that sits beside the project (`../shared/data`), never inside it."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LRRG_SHARED_DATA"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def find_shared_data() -> Path | None:
    """Returns the shared data folder, or `None` when it is absent.

    Looks at `$LRRG_SHARED_DATA` first, then `../shared/data` beside the repository root.
    """
    override = os.environ.get(ENV_VAR)
    candidates = [Path(override)] if override else []
    candidates.append(_REPO_ROOT.parent / "shared" / "data")
    candidates.append(Path.cwd().parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


def shared_data_missing_reason() -> str:
    """A sentence for a skip message or an error."""
    return (
        f"the shared reference data is absent: set ${ENV_VAR} to its folder or place it at "
        f"{_REPO_ROOT.parent / 'shared' / 'data'}"
    )


__all__ = ["ENV_VAR", "find_shared_data", "shared_data_missing_reason"]
