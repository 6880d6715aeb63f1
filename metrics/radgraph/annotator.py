"""RadGraph annotation of reports through the maintained `radgraph` package (an optional dependency)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MODEL_TYPES", "RADGRAPH_HELP", "RadGraphAnnotator", "load_annotator"]

MODEL_TYPES = ("radgraph", "radgraph-xl", "modern-radgraph-xl")
ENV_DIR = "LRRG_RADGRAPH_DIR"
RADGRAPH_HELP = (
    "RadGraph annotation needs the `radgraph` package (`pip install radgraph`; it also installs appdirs, dotmap, "
    "h5py, jsonpickle and nltk; it imports with transformers 5) and the model checkpoint: the archives "
    "`radgraph.tar.gz` / `radgraph-xl.tar.gz` of the Hub repository `StanfordAIMI/RRG_scorers`. Extract one "
    "into `DIR/<model_type>/` (config.json, vocabulary/, weights.th) and pass `model_dir=DIR` or set "
    f"${ENV_DIR}; with network access the package downloads it itself (model_dir=None). Or compute the "
    "annotations elsewhere and pass them in (`f1radgraph(hyp_annotations, ref_annotations)`)."
)


class RadGraphAnnotator:
    """Annotates reports with RadGraph entities and relations (the `radgraph` package's model).

    Args:
        model_type: one of `MODEL_TYPES` ("radgraph" is the model of the F1RadGraph paper).
        model_dir: a folder holding `<model_type>/config.json`, `vocabulary/`, `weights.th` (the extracted
            release archive); default `$LRRG_RADGRAPH_DIR`, else the package's own cache (downloads when online).
        batch_size: reports per forward pass.
    """

    def __init__(
        self, model_type: str = "radgraph", model_dir: str | os.PathLike | None = None, batch_size: int = 1
    ):
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type={model_type!r} is not one of {MODEL_TYPES}")
        if importlib.util.find_spec("radgraph") is None:
            raise ImportError(f"the `radgraph` package is not installed. {RADGRAPH_HELP}")
        model_dir = model_dir or os.environ.get(ENV_DIR)
        if model_dir is not None:
            folder = Path(model_dir) / model_type
            if not (folder / "config.json").is_file() or not (folder / "weights.th").is_file():
                raise FileNotFoundError(
                    f"no RadGraph checkpoint in {folder} (config.json + weights.th). {RADGRAPH_HELP}"
                )
        from radgraph import RadGraph

        try:
            self.model = RadGraph(
                model_type=model_type,
                model_cache_dir=None if model_dir is None else str(model_dir),
                batch_size=batch_size,
            )
        except Exception as exc:  # the package raises a bare Exception when the download fails
            raise RuntimeError(f"could not load the RadGraph model ({exc}). {RADGRAPH_HELP}") from exc
        self.model_type = model_type

    def __call__(self, texts: Sequence[str]) -> list[dict[str, Any] | None]:
        """One annotation per report (`None` for an empty report), in RadGraph's output format."""
        indices = [i for i, t in enumerate(texts) if t.strip()]
        out: list[dict[str, Any] | None] = [None] * len(texts)
        if indices:
            annotated = self.model([texts[i] for i in indices])
            for k, i in enumerate(indices):
                out[i] = annotated[str(k)]
        return out


_CACHE: dict[tuple, RadGraphAnnotator] = {}


def load_annotator(model_type: str = "radgraph", model_dir=None, batch_size: int = 1) -> RadGraphAnnotator:
    """A `RadGraphAnnotator`, cached by its settings."""
    key = (model_type, str(model_dir or os.environ.get(ENV_DIR)), batch_size)
    if key not in _CACHE:
        _CACHE[key] = RadGraphAnnotator(model_type, model_dir, batch_size)
    return _CACHE[key]
