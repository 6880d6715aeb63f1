"""Pictures that show where an image-quality problem is: noise map, detail map, clipping, cut-off border, grid FFT...

AQAA (`lrrg.dataset_scripts.aqaa`) decides *whether* a criterion fails; these small helpers only draw *where*,
from the pixels, for the criteria AQAA flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from lrrg.dataset_scripts.image_io import pil_to_gray_float

MAP_SIZE = 512
NOISE_FULL_SCALE = 0.05
DETAIL_FULL_SCALE = 0.008


def _working_gray(image: Image.Image, size: int = MAP_SIZE) -> np.ndarray:
    gray = pil_to_gray_float(image)
    height, width = gray.shape
    scale = min(1.0, size / max(height, width))
    if scale < 1.0:
        new = (max(8, round(width * scale)), max(8, round(height * scale)))
        gray = np.asarray(Image.fromarray(gray).resize(new, Image.Resampling.BOX), dtype=np.float32)
    return gray


def _stretch(values: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    lo, hi = np.percentile(values, (low, high))
    return np.clip((values - lo) / max(hi - lo, 1e-9), 0.0, 1.0)


def _heat(values: np.ndarray) -> np.ndarray:
    """black -> red -> yellow -> white ramp of values in [0, 1]: (H, W, 3) float."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    return np.clip(np.concatenate([v * 3.0, v * 3.0 - 1.0, v * 3.0 - 2.0], axis=2), 0.0, 1.0)


def _blend(gray: np.ndarray, colour: np.ndarray, alpha: np.ndarray | float) -> Image.Image:
    base = np.repeat(_stretch(gray, 0.5, 99.5)[..., None], 3, axis=2)
    alpha = np.asarray(alpha, dtype=np.float32)
    alpha = alpha[..., None] if alpha.ndim == 2 else alpha
    out = base * (1.0 - alpha) + colour * alpha
    return Image.fromarray((np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def _mask_overlay(gray: np.ndarray, mask: np.ndarray, rgb: tuple[float, float, float]) -> Image.Image:
    colour = np.broadcast_to(np.asarray(rgb, dtype=np.float32), (*gray.shape, 3))
    return _blend(gray, colour, mask.astype(np.float32) * 0.65)


def noise_map(image: Image.Image) -> Image.Image:
    """Local noise level (finest diagonal detail, robust local mean) as a heat overlay: warmer = noisier."""
    gray = _working_gray(image, 2 * MAP_SIZE)
    g = gray[: gray.shape[0] // 2 * 2, : gray.shape[1] // 2 * 2]
    diagonal = np.abs(g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    local = ndimage.uniform_filter(diagonal, size=9)
    base = g[0::2, 0::2]
    # absolute scale, so that a clean film stays dark: ~0.006 on a clean film, >= NOISE_FULL_SCALE is white-hot
    return _blend(base, _heat(local / NOISE_FULL_SCALE), 0.6)


def detail_map(image: Image.Image) -> Image.Image:
    """Local fine detail (|image - blurred image|, smoothed): dark = blurred, warm = sharp."""
    gray = _working_gray(image)
    fine = np.abs(gray - ndimage.gaussian_filter(gray, 1.0))
    local = ndimage.uniform_filter(fine, size=15)
    # absolute scale, so that a blurred film is dark all over: ~0.006 on a sharp film, ~0.001 when blurred
    return _blend(gray, _heat(local / DETAIL_FULL_SCALE), 0.6)


def clipping_map(image: Image.Image) -> Image.Image:
    """Clipped whites in red and clipped blacks in blue; the box is the central region AQAA judges."""
    gray = _working_gray(image)
    white, black = gray >= 0.985, gray <= 0.015
    colour = np.zeros((*gray.shape, 3), np.float32)
    colour[white] = (1.0, 0.1, 0.1)
    colour[black] = (0.2, 0.4, 1.0)
    shown = _blend(gray, colour, (white | black).astype(np.float32) * 0.7)
    height, width = gray.shape
    ImageDraw.Draw(shown).rectangle(
        [int(0.2 * width), int(0.2 * height), int(0.8 * width), int(0.8 * height)], outline=(0, 220, 0), width=2
    )
    return shown


def histogram_picture(image: Image.Image, width: int = 512, height: int = 200) -> Image.Image:
    """Intensity histogram of the central region; the green lines mark the 5th and 95th percentiles."""
    gray = _working_gray(image)
    h, w = gray.shape
    centre = gray[int(0.2 * h) : int(0.8 * h), int(0.2 * w) : int(0.8 * w)]
    counts, _ = np.histogram(centre, bins=128, range=(0.0, 1.0))
    counts = counts / max(counts.max(), 1)
    picture = Image.new("RGB", (width, height), (20, 20, 20))
    draw = ImageDraw.Draw(picture)
    bar = width / counts.size
    for index, count in enumerate(counts):
        x0 = int(index * bar)
        draw.rectangle([x0, height - int(count * (height - 10)), int(x0 + bar), height], fill=(200, 200, 200))
    for percentile in np.percentile(centre, (5, 95)):
        x = int(percentile * (width - 1))
        draw.line([x, 0, x, height], fill=(0, 220, 0), width=2)
    return picture


def blockiness_map(image: Image.Image) -> Image.Image:
    """Per 8x8 block of the native pixels: how much stronger the block edges are than the inside (JPEG)."""
    gray = pil_to_gray_float(image)
    height, width = gray.shape[0] // 8 * 8, gray.shape[1] // 8 * 8
    g = gray[:height, :width]
    dx, dy = np.abs(np.diff(g, axis=1, append=g[:, -1:])), np.abs(np.diff(g, axis=0, append=g[-1:, :]))
    cells = (height // 8, 8, width // 8, 8)
    # (rows of blocks, columns of blocks): mean |difference| across each block's right / bottom edge vs inside
    edge = dx.reshape(cells)[:, :, :, 7].mean(axis=1) + dy.reshape(cells)[:, 7, :, :].mean(axis=2)
    inner = dx.reshape(cells)[:, :, :, :7].mean(axis=(1, 3)) + dy.reshape(cells)[:, :7, :, :].mean(axis=(1, 3))
    ratio = np.log((edge + 1e-4) / (inner + 1e-4))
    ratio_image = Image.fromarray(ratio.astype(np.float32))
    base = _working_gray(image)
    ratio_up = np.asarray(ratio_image.resize((base.shape[1], base.shape[0]), Image.Resampling.NEAREST))
    return _blend(base, _heat(np.clip(ratio_up / 1.5, 0.0, 1.0)), 0.55)


def zoomed_crop(image: Image.Image, crop: int = 64, zoom: int = 6) -> Image.Image:
    """A native-resolution crop of the centre, enlarged without smoothing: interpolation and pixelation show."""
    gray = pil_to_gray_float(image)
    height, width = gray.shape
    y0, x0 = max(0, height // 2 - crop // 2), max(0, width // 3 - crop // 2)
    patch = _stretch(gray[y0 : y0 + crop, x0 : x0 + crop], 0.5, 99.5)
    shown = Image.fromarray((patch * 255.0 + 0.5).astype(np.uint8))
    return shown.resize((shown.width * zoom, shown.height * zoom), Image.Resampling.NEAREST).convert("RGB")


def spectrum_picture(image: Image.Image) -> Image.Image:
    """Log amplitude spectrum (centred FFT): grid lines / moire show as bright dots or lines off the centre."""
    gray = _working_gray(image)
    gray = gray - ndimage.uniform_filter(gray, 9)
    window = np.outer(np.hanning(gray.shape[0]), np.hanning(gray.shape[1]))
    spectrum = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(gray * window))))
    return Image.fromarray((_stretch(spectrum, 50, 99.95) * 255.0 + 0.5).astype(np.uint8)).convert("RGB")


def level_lines(image: Image.Image, spacing: int = 48) -> Image.Image:
    """The image under a true vertical / horizontal grid, so that a tilt is visible against it."""
    shown = _blend(_working_gray(image), np.zeros((1, 1, 3), np.float32), 0.0)
    draw = ImageDraw.Draw(shown)
    for x in range(spacing // 2, shown.width, spacing):
        draw.line([x, 0, x, shown.height], fill=(0, 220, 0), width=1)
    for y in range(spacing // 2, shown.height, spacing):
        draw.line([0, y, shown.width, y], fill=(0, 220, 0), width=1)
    return shown


def border_bands(image: Image.Image) -> Image.Image:
    """Top and bottom border bands (4% of the height) in red: lung reaching them means the field is cut off."""
    gray = _working_gray(image)
    mask = np.zeros(gray.shape, bool)
    band = max(2, int(0.04 * gray.shape[0]))
    mask[:band], mask[-band:] = True, True
    return _mask_overlay(gray, mask, (1.0, 0.15, 0.15))


def overlay_strokes(image: Image.Image) -> Image.Image:
    """Thin saturated strokes (burned-in text, markers, arrows) in red, each region boxed."""
    gray = _working_gray(image, 1024)
    saturated = gray >= 0.98
    thin = saturated & ~ndimage.binary_opening(saturated, structure=np.ones((5, 5), bool))
    shown = _mask_overlay(gray, ndimage.binary_dilation(thin, iterations=1), (1.0, 0.1, 0.1))
    regions, count = ndimage.label(ndimage.binary_dilation(thin, iterations=6))
    draw = ImageDraw.Draw(shown)
    for found in ndimage.find_objects(regions)[:50] if count else []:
        rows, cols = found
        draw.rectangle([cols.start, rows.start, cols.stop, rows.stop], outline=(255, 220, 0), width=2)
    return shown


def dark_surround(image: Image.Image) -> Image.Image:
    """Dark, non-black pixels (a monitor's surround in a photo of a screen) in blue."""
    gray = _working_gray(image)
    mask = (gray < 0.5 * float(np.percentile(gray, 20)) + 0.03) & (gray > 0.01)
    return _mask_overlay(gray, mask, (0.2, 0.45, 1.0))


# criterion -> (picture maker, caption): what the picture shows and how to read it
LOCALISERS: dict[str, tuple[Callable[[Image.Image], Image.Image], str]] = {
    "noise": (noise_map, "noise map: warmer = noisier"),
    "blur": (detail_map, "fine-detail map: dark = blurred"),
    "motion": (detail_map, "fine-detail map: dark = smeared by motion"),
    "exposure": (clipping_map, "clipped whites (red) / blacks (blue); green box = region judged"),
    "contrast": (histogram_picture, "central intensity histogram; green lines = 5th / 95th percentiles"),
    "compression": (blockiness_map, "8x8 JPEG block edges: warmer = blockier"),
    "resolution": (zoomed_crop, "native-pixel crop at 6x: smooth ramps / stair-steps = upscaled"),
    "grid": (spectrum_picture, "amplitude spectrum: bright off-centre dots / lines = grid stripes"),
    "rotation": (level_lines, "true vertical / horizontal lines: the anatomy is tilted against them"),
    "field_of_view": (border_bands, "top / bottom borders (red): the lungs reach them = cut off"),
    "annotation": (overlay_strokes, "burned-in text / markers (red, boxed)"),
    "screen_photo": (dark_surround, "dark surround of a photographed monitor (blue)"),
}


def _excess(entry: Mapping[str, Any]) -> float:
    if "excess" in entry:  # AQAA's own measure of how far beyond the threshold
        return float(entry["excess"])
    value, threshold = float(entry.get("value", 0.0)), float(entry.get("threshold", 0.0))
    return (value - threshold) / (abs(threshold) + 1e-6)


def localise(image: Image.Image, flags: Mapping[str, Mapping[str, Any]], limit: int = 4) -> list[tuple[Image.Image, str]]:
    """Pictures of where the flagged problems are, worst first.

    Args:
        image: the assessed image (any PIL mode).
        flags: `QualityReport.flags` (criterion -> `{flagged, value, threshold}`).
        limit: at most this many pictures.

    Returns:
        `(RGB picture, caption)` pairs for flagged criteria that have a localiser; empty when nothing is flagged.
    """
    flagged = [name for name, entry in flags.items() if entry.get("flagged") and name in LOCALISERS]
    flagged.sort(key=lambda name: _excess(flags[name]), reverse=True)
    pictures = []
    for name in flagged[:limit]:
        maker, caption = LOCALISERS[name]
        pictures.append((maker(image), f"{name.replace('_', ' ')}: {caption}"))
    return pictures


__all__ = ["LOCALISERS", "localise"]
