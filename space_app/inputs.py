"""Reading what a person uploads (PNG / JPEG 8- or 16-bit, DICOM, arrays) into a PIL image, with human errors."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from lrrg.dataset_scripts.image_io import ImageLoadError, open_image, pil_to_gray_float

from .settings import AppSettings

DICOM_SUFFIXES = (".dcm", ".dicom")
DISPLAY_SIZE = 768
# Mean channel spread (max - min over RGB, in [0, 1]) above which an image is a colour photograph rather than
# a radiograph stored as RGB (greyscale RGB has a spread of ~0; JPEG chroma noise stays below ~0.02).
COLOUR_SPREAD_LIMIT = 0.06


def _as_path(upload: Any) -> Path | None:
    if isinstance(upload, (str, os.PathLike)):
        return Path(upload)
    if isinstance(upload, dict) and upload.get("path"):
        return Path(upload["path"])
    path = getattr(upload, "path", None) or getattr(upload, "name", None)
    return Path(path) if isinstance(path, str) else None


def _shown_name(path: Path) -> str:
    return path.name or str(path)


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path: Path, settings: AppSettings | None = None) -> Image.Image:
    """Reads the pixel data of a DICOM file as a 16-bit (or 8-bit) grayscale PIL image.

    MONOCHROME1 (inverted) films are flipped so that bone is bright, and the rescale slope / intercept is applied.
    With `settings`, a header announcing more than `settings.max_pixels` pixels is refused before decoding.

    Raises:
        gr.Error: pydicom is missing, the image is over the pixel limit, or the file holds no readable grayscale
            pixel data.
    """
    try:
        import pydicom
    except ImportError as error:
        raise gr.Error(
            f"The file {_shown_name(path)} is DICOM, and reading DICOM needs the `pydicom` package: "
            "`pip install pydicom` (or `pip install lrrg[dicom]`), or export the image as PNG."
        ) from error
    try:
        dataset = pydicom.dcmread(str(path))
        rows, columns = int(getattr(dataset, "Rows", 0) or 0), int(getattr(dataset, "Columns", 0) or 0)
        frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    except Exception as error:  # noqa: BLE001 - pydicom raises many kinds of errors on bad files
        raise gr.Error(
            f"The file {_shown_name(path)} could not be read as DICOM ({error}). Export the image as PNG and "
            "upload that."
        ) from error
    # compressed pixel data can be a decompression bomb: measure from the header before decoding
    if settings is not None and rows * columns * frames > settings.max_pixels:
        size = (columns, rows) if frames == 1 else None
        raise gr.Error(_too_many_pixels(f"The DICOM image {_shown_name(path)}", size, settings, rows * columns * frames))
    try:
        pixels = dataset.pixel_array.astype(np.float64)
    except Exception as error:  # noqa: BLE001 - pydicom raises many kinds of errors on bad files
        raise gr.Error(
            f"The file {_shown_name(path)} could not be read as DICOM ({error}). Export the image as PNG and "
            "upload that."
        ) from error
    if pixels.ndim != 2:
        raise gr.Error(
            f"The file {_shown_name(path)} holds DICOM pixel data of shape {pixels.shape}; only single-frame grayscale "
            "radiographs are supported. Export the view you want as PNG."
        )
    pixels = pixels * float(getattr(dataset, "RescaleSlope", 1) or 1) + float(getattr(dataset, "RescaleIntercept", 0) or 0)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
    if str(getattr(dataset, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        scaled = 1.0 - scaled
    return Image.fromarray((scaled * 65535.0 + 0.5).astype(np.uint16))


def _strip_source(message: str, path: Path) -> str:
    """image_io names the input first; the person already knows which file they uploaded."""
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def load_upload(upload: Any, settings: AppSettings) -> Image.Image:
    """Turns an upload into a loaded PIL image, refusing what cannot be assessed with a sentence a person understands.

    Args:
        upload: a file path (what `gr.File` passes), a gradio file dict, a PIL image or a numpy array
            (H, W) / (H, W, 3) of uint8, uint16 or float in [0, 1].
        settings: size limits (`max_upload_mb`, `max_pixels`, `min_side`).

    Returns:
        A loaded PIL image in its own mode (`L`, `I;16`, `RGB`, ...).

    Raises:
        gr.Error: nothing uploaded, not an image, empty or truncated file, too large (bytes or pixels), too small.
    """
    if upload is None or (isinstance(upload, (str, list, tuple)) and not upload):
        raise gr.Error("No image yet: upload a chest radiograph (PNG, JPEG or DICOM) or pick an example.")
    if isinstance(upload, (list, tuple)):
        raise gr.Error("Please upload one image at a time.")
    path = _as_path(upload)
    if path is not None:
        image = _load_file(path, settings)
    elif isinstance(upload, (Image.Image, np.ndarray)):
        try:
            image = open_image(upload, max_pixels=settings.max_pixels)
        except ImageLoadError as error:
            raise gr.Error(f"This array is not an image the app can read: {error}.") from error
        if image.size[0] * image.size[1] > settings.max_pixels:
            raise gr.Error(_too_many_pixels("This image", image.size, settings))
    else:
        raise gr.Error(f"Cannot use an upload of type {type(upload).__name__}: upload an image file.")
    width, height = image.size
    if min(width, height) < settings.min_side:
        raise gr.Error(
            f"The image is only {width}x{height} pixels: too small to assess or report on (needs at least "
            f"{settings.min_side} pixels on each side). Upload the full-resolution radiograph."
        )
    return image


def _too_many_pixels(what: str, size: tuple[int, int] | None, settings: AppSettings, pixels: int = 0) -> str:
    extent = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels" if size else f"{pixels:,} pixels"
    return (
        f"{what} is {extent}, more than the limit of {settings.max_pixels:,}. It was refused unread to protect "
        "the server (decompression-bomb guard); downscale it before uploading."
    )


def _header_extent(path: Path, reason: str) -> tuple[tuple[int, int] | None, int]:
    """(width, height) from the file header, or (None, pixel count) when Pillow's own bomb limit refuses it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as header:
                return header.size, 0
    except Image.DecompressionBombError as error:
        reason = str(error)
    except OSError:
        pass
    match = re.search(r"\((\d+) pixels\)", reason)
    return None, int(match.group(1)) if match else 0


def _load_file(path: Path, settings: AppSettings) -> Image.Image:
    name = _shown_name(path)
    if not path.is_file():
        raise gr.Error(f"The uploaded file {name} is missing on the server; please upload it again.")
    size = path.stat().st_size
    if size == 0:
        raise gr.Error(f"The file {name} is empty (0 bytes): it is not an image. Upload the radiograph again.")
    if size > settings.max_upload_bytes:
        raise gr.Error(
            f"The file {name} is {size / 2**20:.1f} MB, over the upload limit of {settings.max_upload_mb:g} MB. "
            "Upload a smaller export (PNG or JPEG)."
        )
    if _is_dicom(path):
        image = read_dicom(path, settings)
        if image.size[0] * image.size[1] > settings.max_pixels:
            raise gr.Error(_too_many_pixels(f"The DICOM image {name}", image.size, settings))
        return image
    try:
        return open_image(path, max_pixels=settings.max_pixels)
    except ImageLoadError as error:
        reason = _strip_source(str(error), path)
        if "exceeds the limit" in reason or "decompression bomb" in reason:
            size, pixels = _header_extent(path, reason)
            raise gr.Error(_too_many_pixels(f"The image {name}", size, settings, pixels)) from error
        if "truncated" in reason or "corrupt" in reason:
            raise gr.Error(
                f"The image {name} is truncated or corrupt, so it cannot be read to the end. "
                "Re-export or re-download it and upload it again."
            ) from error
        raise gr.Error(
            f"The file {name} is not an image the app can read ({reason}). "
            "Upload a chest radiograph as PNG, JPEG or DICOM."
        ) from error


def colour_spread(image: Image.Image) -> float:
    """Mean per-pixel spread between the RGB channels (0 for grayscale), on a small copy."""
    if image.mode not in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
        return 0.0
    small = image.convert("RGB")
    small.thumbnail((128, 128))
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    return float(np.mean(rgb.max(axis=2) - rgb.min(axis=2)))


def colour_warning(image: Image.Image) -> str | None:
    """A sentence when the image looks like a colour photograph rather than a radiograph, else `None`."""
    spread = colour_spread(image)
    if spread <= COLOUR_SPREAD_LIMIT:
        return None
    return (
        f"This is a colour image (mean colour spread {spread:.2f}): it is probably a photograph, not a chest "
        "radiograph. It is assessed anyway, but the verdict and the report may mean little."
    )


def to_display(image: Image.Image, size: int = DISPLAY_SIZE) -> Image.Image:
    """An 8-bit copy for the browser (long side <= `size`); >8-bit data are windowed to their real range."""
    if image.mode in ("RGB", "RGBA"):
        shown = image.convert("RGB")
    else:
        gray = pil_to_gray_float(image)
        if image.mode not in ("L", "1", "P", "LA"):
            low, high = np.percentile(gray, (0.5, 99.5))
            gray = np.clip((gray - low) / max(high - low, 1e-6), 0.0, 1.0)
        shown = Image.fromarray((gray * 255.0 + 0.5).astype(np.uint8))
    shown.thumbnail((size, size), Image.Resampling.LANCZOS)
    return shown


__all__ = ["COLOUR_SPREAD_LIMIT", "colour_spread", "colour_warning", "load_upload", "read_dicom", "to_display"]
