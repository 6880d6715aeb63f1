"""Example images of the Space: phantoms (always, generated at start) and real radiographs of the shared data."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Full films first (the NIH PA and the Eurorad AP film), then journal figures in name order.
PREFERRED_REAL = ("00000001_000.png", "16747_3_1.jpg")
REAL_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Example:
    """One example: the file to load and the label shown under it."""

    path: str
    label: str


def default_cache_dir() -> Path:
    """`$LRRG_CACHE/space-examples`, else a folder in the system temp directory (gradio may serve files from it)."""
    root = os.environ.get("LRRG_CACHE")
    return Path(root) / "space-examples" if root else Path(tempfile.gettempdir()) / "lrrg-space-examples"


def phantom_examples(folder: Path, size: int = 512) -> list[Example]:
    """Writes (once) and returns the phantom examples: normal and abnormal studies, 8- and 16-bit, one degraded."""
    from lrrg.dataset_scripts.degradations import degrade
    from lrrg.dataset_scripts.phantoms import generate_phantom

    # (file name, label, seed, findings, bit depth, degradation)
    specs = (
        ("phantom-normal.png", "phantom: normal study (8-bit)", 11, [], 8, None),
        ("phantom-cardiomegaly-effusion.png", "phantom: cardiomegaly + effusion (8-bit)", 12,
         ["cardiomegaly", "pleural_effusion"], 8, None),
        ("phantom-pneumothorax-16bit.png", "phantom: pneumothorax (16-bit)", 13, ["pneumothorax"], 16, None),
        ("phantom-consolidation-noisy.png", "phantom: consolidation, low-dose noise", 14, ["consolidation"], 8,
         ("quantum_noise", 5)),
    )
    folder.mkdir(parents=True, exist_ok=True)
    examples = []
    for name, label, seed, findings, bit_depth, degradation in specs:
        path = folder / f"{size}-{name}"
        if not path.is_file():
            image = generate_phantom(seed, findings=findings, size=size, bit_depth=bit_depth, view="PA").image
            if degradation is not None:
                image = degrade(image, degradation[0], degradation[1], seed=seed)
            partial = path.with_name(f".{os.getpid()}-{path.name}")
            image.save(partial)
            partial.replace(path)  # atomic: two app processes starting together never read half a file
        examples.append(Example(str(path), label))
    return examples


def _licences(folder: Path) -> dict[str, str]:
    metadata = folder.parent / "metadata.csv"
    if not metadata.is_file():
        return {}
    with open(metadata, newline="", encoding="utf-8") as handle:
        return {row.get("filename", ""): row.get("license", "") or "" for row in csv.DictReader(handle)}


def real_examples(folder: Path, limit: int, shared_images: Path | None = None) -> list[Example]:
    """Copies (once) up to `limit` real radiographs from the shared data into `folder`; none when it is absent.

    Args:
        folder: the cache folder (gradio serves examples only from its cache, the working or the temp folder).
        limit: how many.
        shared_images: default `find_shared_data() / "cxr_images/images"`.
    """
    if limit <= 0:
        return []
    if shared_images is None:
        from lrrg.shared_data import find_shared_data

        data = find_shared_data()
        shared_images = data / "cxr_images" / "images" if data is not None else None
    if shared_images is None or not shared_images.is_dir():
        logger.info("No real radiographs to offer as examples (the shared data is absent); phantoms only.")
        return []
    names = sorted(p.name for p in shared_images.iterdir() if p.suffix.lower() in REAL_SUFFIXES)
    chosen = [n for n in PREFERRED_REAL if n in names] + [n for n in names if n not in PREFERRED_REAL]
    licences = _licences(shared_images)
    folder.mkdir(parents=True, exist_ok=True)
    examples = []
    for name in chosen[:limit]:
        target = folder / f"real-{name}"
        if not target.is_file():
            shutil.copyfile(shared_images / name, target)
        licence = licences.get(name) or ("CC0 (NIH ChestX-ray14)" if name.startswith("0000") else "see metadata.csv")
        examples.append(Example(str(target), f"real: {name} ({licence})"))
    return examples


def collect_examples(num_real: int = 4, folder: Path | None = None) -> list[Example]:
    """Phantom examples, then up to `num_real` real radiographs when the shared data is present."""
    folder = folder or default_cache_dir()
    return phantom_examples(folder) + real_examples(folder, num_real)


__all__ = ["Example", "collect_examples", "default_cache_dir", "phantom_examples", "real_examples"]
