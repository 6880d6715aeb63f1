"""Robust image loading and intensity conversion shared by phantoms, degradations, AQAA and the builder.

Every failure becomes an `ImageLoadError` whose message names the input and the fix: missing files,
zero-byte or truncated files, non-image files, decompression bombs, unsupported modes.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

# A chest radiograph is at most ~4300 x 4300 px (43 cm detector at 0.1 mm); 64 Mpx leaves room for
# stitched or oversampled films while refusing decompression bombs long before they exhaust memory.
DEFAULT_MAX_PIXELS = 64_000_000

ImageInput = str | os.PathLike | bytes | Image.Image | np.ndarray


class ImageLoadError(ValueError):
    """An image could not be read; the message names the input and what to do about it."""


def _describe(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def _open_checked(source: str | os.PathLike | bytes, max_pixels: int) -> Image.Image:
    """Opens lazily and checks the header (size) before any pixel is decoded."""
    name = _describe(source)
    if isinstance(source, bytes):
        if not source:
            raise ImageLoadError(f"{name}: empty byte string, not an image; pass the encoded file content")
        stream: Any = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"{name}: no such file; check the path or glob")
        if path.is_dir():
            raise ImageLoadError(f"{name}: is a directory, not an image file; pass image files or a glob")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: zero-byte file, not an image; re-export or re-download it")
        stream = path
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) between MAX_IMAGE_PIXELS and 2x; we apply our own limit below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except Image.DecompressionBombError as error:
        raise ImageLoadError(
            f"{name}: refused as a possible decompression bomb ({error}); raise max_pixels if it is genuine"
        ) from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(
            f"{name}: not a readable image (unknown format); convert it to PNG or JPEG"
        ) from error
    except OSError as error:
        raise ImageLoadError(
            f"{name}: cannot be opened ({error}); the file is truncated or not an image: re-export or re-download it"
        ) from error
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageLoadError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(decompression-bomb guard); raise max_pixels if the image is genuine"
        )
    if width < 1 or height < 1:
        raise ImageLoadError(f"{name}: has an empty size {width}x{height}")
    return image


def open_image(source: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: int | None = None) -> Image.Image:
    """Loads an image fully and safely.

    Args:
        source: a path, encoded bytes, a PIL image or a numpy array (H, W) / (H, W, 3|4).
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).
        draft_size: when given and the file is a JPEG, let the decoder scale by 1/2..1/8 so that the
            long side stays >= this value (much faster; used when only a preview is needed).

    Returns:
        A loaded PIL image in its own mode (`L`, `I;16`, `I`, `F`, `RGB`, `RGBA`, `LA`, `P`, ...).

    Raises:
        ImageLoadError: the input is missing, empty, truncated, not an image or too large.
    """
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return array_to_pil(source)
    name = _describe(source)
    image = _open_checked(source, max_pixels)
    if draft_size and image.format == "JPEG" and image.mode in ("L", "RGB"):
        scale = max(image.size) / float(draft_size)
        if scale >= 2:
            image.draft(image.mode, (int(image.size[0] / scale) + 1, int(image.size[1] / scale) + 1))
    try:
        image.load()
    except OSError as error:
        raise ImageLoadError(
            f"{name}: truncated or corrupt image data ({error}); re-export or re-download the file"
        ) from error
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"{name}: refused as a possible decompression bomb ({error})") from error
    return image


def array_to_pil(array: np.ndarray) -> Image.Image:
    """Wraps a numpy image as PIL: uint8 -> `L`/`RGB`, uint16 -> `I;16`, float in [0, 1] -> `L`."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageLoadError(f"array of shape {array.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if array.dtype == np.uint16 and array.ndim == 2:
        return Image.fromarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageLoadError(
                f"array of shape {array.shape} contains NaN or infinite values; replace them first (numpy.nan_to_num)"
            )
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageLoadError(f"array of dtype {array.dtype}: expected uint8, uint16 (grayscale) or float in [0, 1]")
    return Image.fromarray(array)


def pil_to_gray_float(image: Image.Image) -> np.ndarray:
    """Grayscale float32 array in [0, 1] from any PIL mode (16-bit kept at full precision).

    Returns:
        (H, W) float32.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float32)
        top = 65535.0 if float(array.max(initial=0)) > 255 else 255.0
        if mode == "F" and float(array.max(initial=0)) <= 1.0:
            top = 1.0
        return np.clip(array / top, 0.0, 1.0)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Transparent margins (journal figures) read as black film margins.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.float32) / 255.0


def to_float(image: Image.Image | np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Converts an image to a float32 array in [0, 1] and remembers how to convert back.

    Returns:
        `(array, spec)`: array is (H, W) or (H, W, C); spec is passed to `from_float`.
    """
    if isinstance(image, Image.Image):
        mode = image.mode
        if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            return np.asarray(image, dtype=np.float32) / 65535.0, {"kind": "pil", "mode": mode, "scale": 65535.0}
        if mode in ("L", "RGB", "RGBA", "LA"):
            return np.asarray(image, dtype=np.float32) / 255.0, {"kind": "pil", "mode": mode, "scale": 255.0}
        if mode in ("I", "F"):
            array = np.asarray(image, dtype=np.float32)
            scale = 1.0 if (mode == "F" and float(array.max(initial=0)) <= 1.0) else (
                65535.0 if float(array.max(initial=0)) > 255 else 255.0)
            return array / scale, {"kind": "pil", "mode": mode, "scale": scale}
        # Palette, bilevel, CMYK, ...: work in L / RGB(A) and convert back to the original mode at the end.
        if mode == "1":
            target = "L"
        else:
            target = "RGBA" if "transparency" in image.info else "RGB"
        array, spec = to_float(image.convert(target))
        return array, {**spec, "restore": mode}
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0, {"kind": "numpy", "dtype": array.dtype, "scale": 255.0}
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0, {"kind": "numpy", "dtype": array.dtype, "scale": 65535.0}
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False), {"kind": "numpy", "dtype": array.dtype, "scale": 1.0}
    raise TypeError(f"unsupported array dtype {array.dtype}: use uint8, uint16 or float")


def from_float(array: np.ndarray, spec: dict[str, Any]) -> Image.Image | np.ndarray:
    """Inverse of `to_float`: same container, mode / dtype and value scale as the original."""
    scale = spec["scale"]
    if spec["kind"] == "numpy":
        dtype = np.dtype(spec["dtype"])
        if np.issubdtype(dtype, np.floating):
            return np.clip(array, 0.0, 1.0).astype(dtype)
        return (np.clip(array, 0.0, 1.0) * scale + 0.5).astype(dtype)
    mode = spec["mode"]
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        image = Image.fromarray((np.clip(array, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16))
    elif mode in ("I", "F"):
        values = np.clip(array, 0.0, 1.0) * scale
        image = Image.fromarray(values.astype(np.float32) if mode == "F" else values.astype(np.int32))
    else:
        image = Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    restore = spec.get("restore")
    if restore == "P":  # an adaptive palette keeps the degraded grey levels
        return image.quantize(256, method=Image.Quantize.FASTOCTREE)
    return image.convert(restore) if restore and restore != image.mode else image


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageInput",
    "ImageLoadError",
    "array_to_pil",
    "from_float",
    "open_image",
    "pil_to_gray_float",
    "to_float",
]
