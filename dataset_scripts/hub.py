"""Publishing and loading the LRRG benchmark the Hub way: dataset card, `push_to_hub`, `load_lrrg`."""

from __future__ import annotations

import logging
import string
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .lrrg_features import BASE_SPLITS, CONFIGS, SPLITS, lrrg_features

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).with_name("dataset_card_template.md")
LRRG_CITATION = """@software{lrrg,
  title  = {LRRG: robust radiology report generation on low-quality chest X-rays},
  author = {{LRRG developers}},
  year   = {2025}
}"""


def _card_metadata(summary: Any, source: Any, configs: Sequence[str], shard_counts: dict[str, dict[str, int]] | None) -> dict:
    from datasets import DatasetInfo, SplitDict, SplitInfo

    entries, infos = [], []
    for index, config in enumerate(configs):
        entry: dict[str, Any] = {"config_name": config}
        if index == 0:
            entry["default"] = True
        present = [split for split in SPLITS if summary.rows(split) > 0]
        entry["data_files"] = [{"split": split, "path": f"data/{config}/{split}-*.parquet"} for split in present]
        entries.append(entry)
        splits = SplitDict()
        for split in present:
            splits.add(SplitInfo(name=split, num_examples=summary.rows(split)))
        info = DatasetInfo(features=lrrg_features(config), splits=splits)._to_yaml_dict()
        infos.append({"config_name": config, **info})
    total = summary.rows("train") + summary.rows("validation") + summary.rows("test")
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else "100K<n<1M"
    licence: dict[str, str] = {"license": source.license}
    if source.license == "other":
        licence["license_name"] = getattr(source, "license_name", None) or f"{source.name}-source-licence"
        if getattr(source, "license_link", None):
            licence["license_link"] = source.license_link
    return {
        **licence,
        "pretty_name": f"LRRG benchmark ({source.name})",
        "language": ["en"],
        "task_categories": ["image-to-text"],
        "tags": ["medical", "radiology", "chest-x-ray", "report-generation", "image-quality", "lrrg", source.name],
        "size_categories": [size],
        "configs": entries,
        "dataset_info": infos,
    }


def _calibration_text(agent: Any) -> str:
    calibration = getattr(agent, "calibration", None)
    if isinstance(calibration, dict):
        description = calibration.get("description") or "custom calibration"
        k = calibration.get("k")
        return f"{description}" + (f", thresholds at median + {k} x MAD" if k is not None else "")
    return "the default calibration shipped with the package" if calibration is None else type(calibration).__name__


def render_dataset_card(
    summary: Any, source: Any, agent: Any, configs: Sequence[str], repo_hint: str = "path/to/lrrg-benchmark"
) -> str:
    """The `README.md` of a built benchmark: YAML front matter (configs, features, licence) + documentation.

    Args:
        summary: the `BuildSummary` of the build.
        source: the `StudySource` it was built from.
        agent: the quality agent used.
        configs: the configs the card lists.
        repo_hint: the repo id or path shown in the usage snippet.

    Returns:
        The card text.
    """
    import yaml

    metadata = _card_metadata(summary, source, configs, None)
    module = __import__(type(agent).__module__, fromlist=["_"])
    official = "the source's official split (`validate` is renamed `validation`)" if source.name in ("mimic-cxr",) else (
        "the source's official split where it has one, otherwise a seeded split by subject "
        f"({', '.join(f'{s} {f:.0%}' for s, f in zip(BASE_SPLITS, summary.split_fractions))}; no subject in two splits)"
    )
    values = {
        "pretty_name": metadata["pretty_name"],
        "source_description": summary.description,
        "configs": ", ".join(f"`{c}`" for c in configs),
        "repo_hint": repo_hint,
        "split_rule": official,
        "num_kinds": len(summary.synthetic_kinds),
        "kinds": ", ".join(f"`{k}`" for k in summary.synthetic_kinds),
        "severities": ", ".join(map(str, summary.synthetic_severities)),
        "aqaa_version": str(getattr(module, "AQAA_VERSION", getattr(module, "__version__", "(unversioned)"))),
        "aqaa_fingerprint": summary.aqaa_fingerprint,
        "calibration": _calibration_text(agent),
        "seed": summary.seed,
        "seconds": f"{summary.seconds:.1f}",
        "num_proc": summary.num_proc,
        "assessed": summary.assessed,
        "cached": summary.cached,
        "statistics": summary.markdown(),
        "access_note": source.access_note or "See the source's own licence.",
        "license": source.license,
        "citation": "\n\n".join(c for c in (LRRG_CITATION, source.citation) if c),
    }
    body = string.Template(TEMPLATE_PATH.read_text(encoding="utf-8")).substitute(values)
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{body}"


def write_dataset_card(
    out: str | Path, summary: Any, source: Any, agent: Any, configs: Sequence[str], shard_counts: Any = None
) -> Path:
    """Writes `README.md` into the built folder and returns its path."""
    path = Path(out) / "README.md"
    path.write_text(render_dataset_card(summary, source, agent, configs, repo_hint=str(Path(out))), encoding="utf-8")
    return path


def push_lrrg_to_hub(out: str | Path, repo_id: str, private: bool = False, redistributable: bool = False) -> str:
    """Uploads a built benchmark's Parquet and card to a Hub dataset repo (never run in tests).

    Non-redistributable sources (MIMIC-CXR, IU X-ray, private folders) upload the `labels` config only,
    with a card that lists only it.

    Args:
        out: the built folder.
        repo_id: `user/name` on the Hub.
        private: create the repo private.
        redistributable: whether the `full` config (images, reports) may be uploaded.

    Returns:
        The repo URL.
    """
    from huggingface_hub import HfApi

    out = Path(out)
    configs = [c for c in CONFIGS if (out / "data" / c).is_dir() and (redistributable or c == "labels")]
    if not configs:
        raise FileNotFoundError(
            f"nothing to upload from {out}: a non-redistributable source needs the `labels` config (build with configs including 'labels')"
        )
    if not redistributable and (out / "data" / "full").is_dir():
        logger.warning("the source may not be redistributed: uploading the `labels` config only")
    api = HfApi()
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id, repo_type="dataset", folder_path=str(out),
        allow_patterns=[f"data/{c}/*.parquet" for c in configs] + ["build_summary.json"],
        # A previous push with more shards would leave files that the card's `split-*.parquet` globs still match.
        delete_patterns=[f"data/{c}/*.parquet" for c in configs],
    )
    card = (out / "README.md").read_text(encoding="utf-8")
    if configs != [c for c in CONFIGS if (out / "data" / c).is_dir()]:
        card = _restrict_card(card, configs)
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as handle:
        handle.write(card.replace(str(out), repo_id))
    api.upload_file(path_or_fileobj=handle.name, path_in_repo="README.md", repo_id=repo_id, repo_type="dataset")
    Path(handle.name).unlink(missing_ok=True)
    logger.info("uploaded %s (%s) to %s", out, ", ".join(configs), url)
    return str(url)


def _restrict_card(card: str, configs: Sequence[str]) -> str:
    """Drops the configs not in `configs` from a card's YAML front matter."""
    import yaml

    _, front, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front)
    metadata["configs"] = [c for c in metadata["configs"] if c["config_name"] in configs]
    metadata["configs"][0]["default"] = True
    metadata["dataset_info"] = [c for c in metadata["dataset_info"] if c["config_name"] in configs]
    return f"---\n{yaml.safe_dump(metadata, sort_keys=False)}---\n{body}"


def _load_local_parquet(folder: Path, **load_kwargs: Any) -> Any:
    """Loads a built config's Parquet shards by absolute path.

    `load_dataset(folder, name=config)` keys its cache by the card's relative `data_files` patterns, so two
    builds in folders of the same name (or a rebuild in place with the same row counts) would share one cache
    entry and load stale rows. Absolute paths carry each file's modification time into the cache key.
    """
    import datasets

    data_files = {
        split: [str(p) for p in sorted(folder.glob(f"{split}-*.parquet"))] for split in SPLITS
    }
    data_files = {split: files for split, files in data_files.items() if files}
    if not data_files:
        return datasets.DatasetDict()
    return datasets.load_dataset("parquet", data_files=data_files, **load_kwargs)


def load_lrrg(
    repo_id_or_path: str | Path,
    config: str = "full",
    mimic_root: str | Path | None = None,
    reports_root: str | Path | None = None,
    **load_kwargs: Any,
) -> Any:
    """Loads the LRRG benchmark from a built folder or a Hub repo.

    Args:
        repo_id_or_path: a local folder written by `build_lrrg` or a Hub dataset repo id.
        config: `"full"` (embedded images) or `"labels"` (ids and quality labels only).
        mimic_root: with `config="labels"`, your MIMIC-CXR-JPG folder: images, reports and CheXpert labels
            are joined back from it (the `test_synthetic` images are re-degraded on access, deterministically).
        reports_root: folder of the MIMIC-CXR reports when not inside `mimic_root`.
        **load_kwargs: passed to `datasets.load_dataset` (e.g. `cache_dir`).

    Returns:
        A `DatasetDict` with the splits `train`, `validation`, `test`, `test_hq`, `test_lq`, `test_synthetic`.
    """
    import datasets

    if config not in CONFIGS:
        raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
    if mimic_root is not None and config != "labels":
        raise ValueError("mimic_root joins local images with the `labels` config; pass config='labels'")
    path = Path(repo_id_or_path).expanduser()
    target = str(path.resolve()) if path.exists() else str(repo_id_or_path)
    if path.exists() and not (path / "data" / config).is_dir():
        raise FileNotFoundError(f"{path} has no `{config}` config (no data/{config}/); rebuild with configs including {config!r}")
    if path.exists():
        dataset = _load_local_parquet(path / "data" / config, **load_kwargs)
    else:
        dataset = datasets.load_dataset(target, name=config, **load_kwargs)
    # Splits without rows have no Parquet file (datasets cannot load one): add them back empty.
    features = next(iter(dataset.values())).features if len(dataset) else lrrg_features(config)
    for split in SPLITS:
        if split not in dataset:
            dataset[split] = datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    dataset = datasets.DatasetDict({split: dataset[split] for split in SPLITS})
    if mimic_root is not None:
        from .mimic_join import join_mimic_images

        dataset = join_mimic_images(dataset, mimic_root, reports_root=reports_root)
    return dataset


__all__ = ["LRRG_CITATION", "load_lrrg", "push_lrrg_to_hub", "render_dataset_card", "write_dataset_card"]
