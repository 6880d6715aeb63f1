"""AQAA measurement tools: one cheap classical measurement per image-quality criterion (larger = worse).

Global properties (exposure, contrast, blur, motion, grid, rotation, field of view, screen photo) are
measured on a working copy whose long side is at most `WORKING_SIZE`; properties that live in the
native pixels (noise, JPEG blockiness, upsampling from low resolution, burned-in overlay strokes) are
measured on full-resolution crops or masks, so that a 3000 px film is judged like a 300 px one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

WORKING_SIZE = 512
CROP_SIZE = 64
MIN_SIDE = 32  # the spectral measures need a 32 px square
# The spectral bands are tuned for working copies of >= 256 px; a smaller image puts the same anatomy
# (ribs, vessels) into higher bands, where it reads as directional blur. Motion is measured on a copy
# brought up to this size.
SPECTRAL_MIN_SIZE = 256
# Crop centres (x, y) as fractions of the image: lung fields and mediastinum, away from film margins.
_CROP_CENTRES = ((0.3, 0.38), (0.7, 0.38), (0.3, 0.6), (0.7, 0.6), (0.5, 0.5), (0.5, 0.3))

CRITERION_DESCRIPTIONS: dict[str, str] = {
    "noise": "high-frequency noise (robust wavelet estimate of sigma, full resolution)",
    "blur": "loss of fine detail relative to coarse structure (band-energy ratio)",
    "motion": "directional blur (anisotropy of fine-scale gradient energy)",
    "exposure": "brightness shift and clipping (mid-range position and clipped fraction)",
    "contrast": "compressed intensity range (-log of the 5-95 percentile spread)",
    "compression": "JPEG 8x8 blockiness (log ratio of block-edge to in-block differences)",
    "resolution": "interpolation nodes of an upscaled low-resolution image (spikiness of 2nd differences)",
    "grid": "periodic stripes (peak-to-median ratio of the stripe spectrum)",
    "rotation": "tilt of the dominant edge orientation (degrees)",
    "field_of_view": "lung fields reaching the top or bottom edge (0..1)",
    "annotation": "thin saturated overlay strokes: text, markers, arrows (per mille of pixels)",
    "screen_photo": "photo of a monitor: dark surround on every side, colour cast, glare",
}


@dataclass
class PreparedImage:
    """What the measurements need: a working copy, native crops and native masks."""

    work: np.ndarray  # (h, w) float32 in [0, 1], long side <= WORKING_SIZE
    small: np.ndarray  # the working copy halved while its long side exceeds 256 (global shape measures)
    crops: list[np.ndarray]  # native-resolution (CROP_SIZE, CROP_SIZE) float32 crops, 8-aligned
    saturated: np.ndarray  # (h, w) bool: any native pixel of the cell >= 0.98
    chroma: float  # mean colour saturation of the working copy (0 for grayscale)
    native_size: tuple[int, int]  # (width, height)
    band_ratios: np.ndarray = field(default=None)  # (2, sectors) log spectral band ratios of `work`
    percentiles: np.ndarray | None = None  # cache of `_centre_percentiles`

    def __post_init__(self) -> None:
        if self.band_ratios is None:
            self.band_ratios = _sector_band_ratios(self.work)


def _working_size(width: int, height: int, limit: int) -> tuple[int, int]:
    scale = min(1.0, limit / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


def _gray_8bit(image: Image.Image) -> Image.Image | None:
    """The image as Pillow `L` when it is 8-bit (fast C path), None for 16-bit / float modes."""
    if image.mode == "L":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent margins (journal figures) read as black film margins.
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("L")
    if image.mode in ("RGB", "P", "CMYK", "YCbCr", "1"):
        return image.convert("L")
    return None


def _crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    boxes = []
    if width >= CROP_SIZE and height >= CROP_SIZE:
        for fx, fy in _CROP_CENTRES:
            x0 = int(np.clip(fx * width - CROP_SIZE / 2, 0, width - CROP_SIZE)) // 8 * 8
            y0 = int(np.clip(fy * height - CROP_SIZE / 2, 0, height - CROP_SIZE)) // 8 * 8
            boxes.append((x0, y0, x0 + CROP_SIZE, y0 + CROP_SIZE))
    return boxes


def prepare(image: Image.Image, working_size: int = WORKING_SIZE) -> PreparedImage:
    """Builds the working copy, native crops and the saturation mask from a loaded PIL image.

    8-bit images stay in Pillow (C code) at native size; only the working copy and the crops become
    float arrays, so a 3000 px film costs little more than its decoding.
    """
    from .image_io import pil_to_gray_float

    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ValueError(
            f"{width}x{height} px is too small to assess: AQAA needs at least {MIN_SIDE} px on each side "
            "(pass the radiograph itself, not a thumbnail or a strip)"
        )
    size = _working_size(width, height, working_size)
    chroma = 0.0
    if image.mode in ("RGB", "RGBA"):
        factor = max(1, max(width, height) // 128)
        rgb = np.asarray(image.convert("RGB").reduce(factor) if image.mode == "RGBA" else image.reduce(factor),
                         dtype=np.float32) / 255.0
        chroma = float(np.mean(rgb.max(axis=2) - rgb.min(axis=2)))
    boxes = _crop_boxes(width, height)
    gray = _gray_8bit(image)
    if gray is not None:
        resized = gray if size == (width, height) else gray.resize(size, Image.Resampling.BOX)
        work = np.asarray(resized, dtype=np.float32) / 255.0
        crops = [np.asarray(gray.crop(box), dtype=np.float32) / 255.0 for box in boxes]
        mask = gray.point(lambda v: 255 if v >= 250 else 0)
        if size != (width, height):
            mask = mask.resize(size, Image.Resampling.BOX)
        saturated = np.asarray(mask) > 0
    else:
        native = pil_to_gray_float(image)
        work = native if size == (width, height) else np.asarray(
            Image.fromarray(native).resize(size, Image.Resampling.BOX), dtype=np.float32)
        crops = [native[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]
        saturated = native >= 0.98
        if size != (width, height):
            cells = Image.fromarray(saturated.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
            saturated = np.asarray(cells) > 0
    small = work
    while max(small.shape) > 300:
        h2, w2 = small.shape[0] // 2 * 2, small.shape[1] // 2 * 2
        small = small[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3))
    return PreparedImage(work, small, crops, saturated, chroma, (width, height))


def _centre(work: np.ndarray, fraction: float = 0.6) -> np.ndarray:
    h, w = work.shape
    dy, dx = int(h * (1 - fraction) / 2), int(w * (1 - fraction) / 2)
    return work[dy : h - dy, dx : w - dx]


def measure_noise(p: PreparedImage) -> float:
    """Donoho's MAD estimate on the finest diagonal Haar band of native crops (median over crops)."""
    crops = p.crops or [p.work]
    sigmas = []
    for c in crops:
        c = c[: c.shape[0] // 2 * 2, : c.shape[1] // 2 * 2]
        hh = (c[0::2, 0::2] - c[0::2, 1::2] - c[1::2, 0::2] + c[1::2, 1::2]) / 2.0
        sigmas.append(np.median(np.abs(hh)) / 0.6745)
    return float(np.median(sigmas))


def _sector_band_ratios(work: np.ndarray, sectors: int = 12) -> np.ndarray:
    """Per orientation sector, log10 spectral energy ratios: row 0 high (0.2-0.45 cyc/px) / low (0.02-0.06),
    row 1 mid (0.1-0.25) / low. Sectors are centred on the image axes."""
    h, w = work.shape
    n = max(32, min(256, h, w) // 2 * 2)
    y0, x0 = (h - n) // 2, (w - n) // 2
    crop = work[y0 : y0 + n, x0 : x0 + n]
    crop = (crop - crop.mean()) * _hann2d(n)
    power = np.abs(np.fft.rfft2(crop)) ** 2
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    angle = (np.arctan2(fy, fx) + np.pi / (2 * sectors)) % np.pi
    sector = np.minimum((angle / np.pi * sectors).astype(int), sectors - 1)

    def energy(low: float, high: float) -> np.ndarray:
        band = (radius > low) & (radius < high)
        return np.bincount(sector[band], power[band], sectors) + 1e-12

    base = energy(0.02, 0.06)
    return np.log10(np.stack([energy(0.2, 0.45) / base, energy(0.1, 0.25) / base]))


@functools.lru_cache(maxsize=8)
def _hann2d(n: int) -> np.ndarray:
    window = np.hanning(n).astype(np.float32)
    return np.outer(window, window)


def _circular_median3(values: np.ndarray) -> np.ndarray:
    return np.median(np.stack([np.roll(values, -1), values, np.roll(values, 1)]), axis=0)


def measure_blur(p: PreparedImage) -> float:
    """-log10 high/low band energy in the SHARPEST orientation: detail lost in every direction.

    Using the sharpest direction keeps motion blur (sharp across the motion) apart from defocus.
    """
    return float(-_circular_median3(p.band_ratios[0]).max())


def measure_motion(p: PreparedImage) -> float:
    """Mid/low band energy: sharpest orientation minus the median orientation (log10, 3-sector median).

    Motion smears detail along one direction: most orientations lose mid-band energy, the one across
    the motion keeps it. The circular median removes single-sector spikes of stripes or block edges.
    Working copies under `SPECTRAL_MIN_SIZE` are upsampled first, so the bands see the same anatomy.
    """
    ratios = p.band_ratios
    if max(p.work.shape) < SPECTRAL_MIN_SIZE:
        factor = SPECTRAL_MIN_SIZE / max(p.work.shape)
        size = (round(p.work.shape[1] * factor), round(p.work.shape[0] * factor))
        ratios = _sector_band_ratios(
            np.asarray(Image.fromarray(p.work).resize(size, Image.Resampling.BICUBIC), dtype=np.float32))
    smooth = _circular_median3(ratios[1])
    return float(smooth.max() - np.median(smooth))


def _centre_percentiles(p: PreparedImage) -> np.ndarray:
    """p5, p10, p90, p95 of the central 60 % of the half working copy (computed once per image)."""
    if p.percentiles is None:
        p.percentiles = np.percentile(_centre(p.small, 0.6), (5, 10, 90, 95))
    return p.percentiles


def exposure_stats(p: PreparedImage) -> tuple[float, float, float]:
    """(mid-range, clipped-white fraction, clipped-black fraction) of the central region."""
    _, p10, p90, _ = _centre_percentiles(p)
    centre = _centre(p.small, 0.6)
    return float((p10 + p90) / 2), float(np.mean(centre >= 0.985)), float(np.mean(centre <= 0.015))


def measure_exposure(p: PreparedImage) -> float:
    """|mid-range - 0.5| + 3 x clipped fraction of the centre (too bright or too dark)."""
    mid, white, black = exposure_stats(p)
    return float(abs(mid - 0.5) + 3.0 * max(white, black))


def measure_contrast(p: PreparedImage) -> float:
    """-log of the 5-95 percentile spread of the central region."""
    p5, _, _, p95 = _centre_percentiles(p)
    return float(-np.log(max(p95 - p5, 1e-3)))


def measure_compression(p: PreparedImage) -> float:
    """Mean log ratio of |differences| across 8x8 block edges to those inside blocks (native crops)."""
    if not p.crops:
        return 0.0
    values = []
    for c in p.crops:
        for axis in (0, 1):
            d = np.abs(np.diff(c, axis=axis)).mean(axis=1 - axis)  # profile along the axis, length 63
            edge = d[7::8]
            inner = np.delete(d, np.arange(7, d.size, 8))
            values.append(np.log((edge.mean() + 1e-4) / (inner.mean() + 1e-4)))
    return float(np.median(values))


def measure_resolution(p: PreparedImage) -> float:
    """Spikiness of averaged |2nd differences| (interpolation nodes), min over the two axes, native crops.

    Positions next to JPEG block edges are left out so that compression does not read as upscaling.
    """
    crops = p.crops or [p.work]
    values = []
    for c in crops:
        per_axis = []
        for axis in (0, 1):
            d2 = np.abs(np.diff(c, n=2, axis=axis)).mean(axis=1 - axis)
            d2 = d2[(np.arange(d2.size) % 8) < 6] if p.crops else d2
            ordered = np.sort(d2)
            high, low = ordered[int(0.9 * ordered.size)], ordered[int(0.3 * ordered.size)]
            per_axis.append(np.log((high + 1e-4) / (low + 1e-4)))
        values.append(min(per_axis))
    return float(np.median(values))


def measure_grid(p: PreparedImage) -> float:
    """Log peak over local median of stripe spectra (averaged over 16-row strips), rows or columns."""
    work = _centre(p.work, 0.8)
    best = 0.0
    for a in (work, work.T):
        h = a.shape[0] // 16 * 16
        if h < 16 or a.shape[1] < 48:
            continue
        strips = a[:h].reshape(h // 16, 16, a.shape[1]).mean(axis=1)
        strips = strips - strips.mean(axis=1, keepdims=True)
        spectrum = np.abs(np.fft.rfft(strips * np.hanning(strips.shape[1]), axis=1)).mean(axis=0)
        freqs = np.fft.rfftfreq(strips.shape[1])
        local = ndimage.median_filter(spectrum, size=15, mode="nearest")
        band = (freqs > 1 / 16) & (freqs < 0.45)
        if band.any():
            best = max(best, float(np.log((spectrum[band] / (local[band] + 1e-9)).max())))
    return best


def measure_rotation(p: PreparedImage) -> float:
    """|tilt| in degrees of the gradient-energy-weighted mean edge orientation (4-fold symmetric)."""
    work = ndimage.uniform_filter(p.small, 3)
    gx = work[1:-1, 2:] - work[1:-1, :-2]
    gy = work[2:, 1:-1] - work[:-2, 1:-1]
    energy = gx * gx + gy * gy + 1e-12
    c2, s2 = gx * gx - gy * gy, 2 * gx * gy
    # (gx + i gy)^4 / |g|^2 = |g|^2 exp(4 i theta): edge energy on a 4-fold (axis-symmetric) circle.
    real, imag = float(np.sum((c2 * c2 - s2 * s2) / energy)), float(np.sum(2 * c2 * s2 / energy))
    return float(abs(np.degrees(np.arctan2(imag, real)) / 4.0))


def measure_field_of_view(p: PreparedImage) -> float:
    """Fraction of the top or bottom edge rows (lateral columns) that look like aerated lung (0..1).

    Lung-like: within a quarter of the lung-to-mediastinum span of the mid-lung level and clearly
    brighter than the air outside the body (the darkest pixels).
    """
    work = p.small
    h, w = work.shape
    lateral = np.r_[int(0.1 * w) : int(0.4 * w), int(0.6 * w) : int(0.9 * w)]
    mid_rows = work[int(0.35 * h) : int(0.55 * h)][:, lateral]
    lung = float(np.percentile(mid_rows, 30))
    tissue = float(np.percentile(_centre(work, 0.6), 90))
    air = float(np.percentile(work, 1))
    span = max(tissue - lung, 0.05)
    low, high = max(lung - 0.25 * span, air + 0.4 * (lung - air)), lung + 0.25 * span
    band = max(2, int(0.04 * h))
    scores = []
    for edge in (work[:band][:, lateral], work[-band:][:, lateral]):
        scores.append(float(np.mean((edge > low) & (edge < high))))
    return max(scores)


def measure_annotation(p: PreparedImage) -> float:
    """Per mille of pixels in thin saturated strokes: text, markers, arrows burned into the pixels.

    Saturated pixels away from large clipped areas (outside the dilated 5x5 opening of the mask), on
    darker surroundings (clipped bright anatomy is not an overlay), in connected strokes of at least
    4 pixels at half the working size (not isolated noise specks).
    """
    sat, work = p.saturated, p.work
    if not sat.any():
        return 0.0
    if max(sat.shape) > 300:  # strokes survive a 2x2 "any" pooling; the filters then cost 4x less
        h2, w2 = sat.shape[0] // 2 * 2, sat.shape[1] // 2 * 2
        sat = sat[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).any(axis=(1, 3))
        work = p.small[: sat.shape[0], : sat.shape[1]]
    mask = sat.astype(np.uint8)
    opened = ndimage.maximum_filter(ndimage.minimum_filter(mask, size=5), size=5)
    thin = sat & (ndimage.maximum_filter(opened, size=5) == 0)
    if not thin.any():
        return 0.0
    background = ndimage.minimum_filter(work, size=5)
    thin &= background < 0.75
    if not thin.any():
        return 0.0
    labels, _ = ndimage.label(thin, structure=np.ones((3, 3), bool))
    strokes = np.bincount(labels.ravel()) >= 4
    strokes[0] = False
    return float(1000.0 * strokes[labels].mean())


def measure_screen_photo(p: PreparedImage) -> float:
    """Dark, non-black surround present on all four sides (photographed monitor), plus colour cast."""
    work = p.small
    h, w = work.shape
    dark = work < 0.5 * float(np.percentile(work, 20)) + 0.03
    band_h, band_w = max(2, h // 40), max(2, w // 40)
    sides = (dark[:band_h, w // 10 : -w // 10], dark[-band_h:, w // 10 : -w // 10],
             dark[h // 10 : -h // 10, :band_w], dark[h // 10 : -h // 10, -band_w:])
    coverage = min(float(s.mean()) for s in sides)
    border = np.concatenate([s.ravel() for s in sides])
    values = np.concatenate([work[:band_h, w // 10 : -w // 10].ravel(), work[-band_h:, w // 10 : -w // 10].ravel(),
                             work[h // 10 : -h // 10, :band_w].ravel(), work[h // 10 : -h // 10, -band_w:].ravel()])
    surround = values[border] if border.any() else values
    # Digital padding (rotation fill, film margins) is exactly black; a room seen by a camera is not.
    lit = float(np.clip((np.median(surround) - 0.01) / 0.02, 0.0, 1.0)) if surround.size else 0.0
    return float(coverage * lit + 4.0 * p.chroma)


MEASURES = {
    "noise": measure_noise,
    "blur": measure_blur,
    "motion": measure_motion,
    "exposure": measure_exposure,
    "contrast": measure_contrast,
    "compression": measure_compression,
    "resolution": measure_resolution,
    "grid": measure_grid,
    "rotation": measure_rotation,
    "field_of_view": measure_field_of_view,
    "annotation": measure_annotation,
    "screen_photo": measure_screen_photo,
}


def measure_all(prepared: PreparedImage) -> dict[str, float]:
    """Runs every measurement tool. Returns criterion -> value (larger = worse)."""
    return {name: float(fn(prepared)) for name, fn in MEASURES.items()}


__all__ = ["CRITERION_DESCRIPTIONS", "MEASURES", "MIN_SIDE", "WORKING_SIZE", "PreparedImage", "measure_all", "prepare"]
