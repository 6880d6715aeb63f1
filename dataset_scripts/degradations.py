"""Degradation simulator: clinically motivated image-quality defects of chest radiographs, severity 1..5.

`degrade(image, kind, severity, seed)` returns the same container and mode as its input (PIL `L`,
`I;16`, `RGB`, `RGBA`; numpy uint8 / uint16 / float), draws randomness from its own
`numpy.random.Generator`, and is vectorised (numpy / scipy / Pillow) so that a data collator can call
it on the fly at 128-512 px. Severity 1 is barely visible, 5 is non-diagnostic. Geometric parameters
(blur widths, grid periods) are given for a 512 px image and scale with larger images, so a severity
means the same visual defect at any resolution.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage, signal

from .image_io import from_float, to_float

DEGRADATION_KINDS: tuple[str, ...] = (
    "quantum_noise",
    "gaussian_noise",
    "defocus_blur",
    "motion_blur",
    "underexposure",
    "overexposure",
    "low_contrast",
    "jpeg",
    "low_resolution",
    "grid_lines",
    "rotation",
    "cutoff",
    "burned_in_text",
    "screen_photo",
)

# The AQAA criterion (see `aqaa.CRITERIA`) expected to flag each kind.
KIND_TO_CRITERION: dict[str, str] = {
    "quantum_noise": "noise",
    "gaussian_noise": "noise",
    "defocus_blur": "blur",
    "motion_blur": "motion",
    "underexposure": "exposure",
    "overexposure": "exposure",
    "low_contrast": "contrast",
    "jpeg": "compression",
    "low_resolution": "resolution",
    "grid_lines": "grid",
    "rotation": "rotation",
    "cutoff": "field_of_view",
    "burned_in_text": "annotation",
    "screen_photo": "screen_photo",
}

KIND_DESCRIPTIONS: dict[str, str] = {
    "quantum_noise": "Poisson (quantum) mottle of a low-dose exposure, signal dependent",
    "gaussian_noise": "additive electronic (detector read-out) Gaussian noise",
    "defocus_blur": "isotropic Gaussian blur (defocus, scatter, heavy smoothing)",
    "motion_blur": "linear motion blur (patient motion, breathing) at a random angle",
    "underexposure": "too few photons: washed-out bright image, whites clipped",
    "overexposure": "too many photons: burned-out dark lungs, blacks clipped",
    "low_contrast": "wrong windowing: intensity range compressed around the mean",
    "jpeg": "lossy JPEG compression with 8x8 block artefacts",
    "low_resolution": "stored at low resolution and upscaled (bilinear) for display",
    "grid_lines": "anti-scatter grid lines / moire stripes",
    "rotation": "tilted image (patient or detector rotation), black corners",
    "cutoff": "field of view cut off: apices or costophrenic angles outside the frame",
    "burned_in_text": "burned-in text, side markers and arrows",
    "screen_photo": "photograph of a monitor: perspective, glare, moire, dark surround",
}

SEVERITIES = (1, 2, 3, 4, 5)

# Severity tables: index 0 is severity 1.
_PHOTONS = (2500.0, 800.0, 250.0, 100.0, 40.0)
_GAUSS_SIGMA = (0.012, 0.022, 0.036, 0.055, 0.08)
_BLUR_SIGMA = (0.8, 1.4, 2.2, 3.2, 4.6)  # px at 512
_MOTION_LENGTH = (4.0, 7.0, 11.0, 16.0, 23.0)  # px at 512
_EXPOSURE_SHIFT = (0.10, 0.18, 0.27, 0.36, 0.46)
_CONTRAST_FACTOR = (0.72, 0.52, 0.38, 0.27, 0.18)
_JPEG_QUALITY = (45, 28, 16, 9, 5)
_RESOLUTION_FRACTION = (0.7, 0.5, 0.35, 0.25, 0.16)  # of min(long side, 1024)
_GRID_AMPLITUDE = (0.012, 0.022, 0.035, 0.05, 0.075)
_ROTATION_DEGREES = (3.0, 6.0, 10.0, 15.0, 22.0)
# Fraction of the height shifted out of the frame. A chest film has ~10 % of neck above the apices and
# ~20 % of abdomen below the costophrenic angles, so the bases need larger shifts to be cut.
_CUTOFF_TOP = (0.12, 0.16, 0.21, 0.27, 0.34)
_CUTOFF_BOTTOM = (0.2, 0.25, 0.3, 0.36, 0.42)
_TEXT_ITEMS = (1, 2, 4, 6, 9)
_TEXT_HEIGHT = (0.035, 0.045, 0.055, 0.065, 0.08)  # of the image height
_SCREEN_STRENGTH = (0.25, 0.45, 0.65, 0.82, 1.0)

_TEXTS = ("R", "L", "PORTABLE", "AP SUPINE", "ERECT", "UPRIGHT", "INSP", "2019-03-14 08:12", "ID 4471823",
          "ACC 0093314", "SEMI-ERECT", "PA", "CHEST 1 VIEW", "12:41")


def _scale(shape: tuple[int, ...]) -> float:
    """Length factor for parameters defined on a 512 px image (never below 1)."""
    return max(max(shape[0], shape[1]), 512) / 512.0


def _gray(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 2 else x[..., :3].mean(axis=2) if x.shape[2] >= 3 else x[..., 0]


def _add_gray(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Adds a (H, W) field to every colour channel (radiographs stay gray)."""
    return x + delta if x.ndim == 2 else x + delta[..., None]


def _per_channel(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if x.ndim == 2:
        return fn(x)
    return np.stack([fn(x[..., c]) for c in range(x.shape[2])], axis=2)


def _resize(channel: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resizes a float (H, W) array to (width, height) with Pillow's F mode."""
    return np.asarray(Image.fromarray(channel.astype(np.float32)).resize(size, resample), dtype=np.float32)


def _quantum_noise(x, severity, rng):
    photons = _PHOTONS[severity - 1]
    gray = _gray(x)
    # Bright pixels are dense tissue: fewer photons reach the detector there, hence more mottle.
    expected = np.clip(1.02 - gray, 0.02, None) * photons
    counts = rng.poisson(expected).astype(np.float32)
    return _add_gray(x, (expected - counts) / photons)


def _gaussian_noise(x, severity, rng):
    noise = rng.standard_normal(x.shape[:2], dtype=np.float32) * _GAUSS_SIGMA[severity - 1]
    return _add_gray(x, noise)


def _defocus_blur(x, severity, rng):
    sigma = _BLUR_SIGMA[severity - 1] * _scale(x.shape) * rng.uniform(0.9, 1.1)
    return _per_channel(x, lambda c: ndimage.gaussian_filter(c, sigma, mode="nearest"))


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    half = int(np.ceil(length / 2)) + 1
    size = 2 * half + 1
    kernel = np.zeros((size, size), np.float32)
    t = np.linspace(-length / 2, length / 2, int(length * 4) + 2)
    xs = half + t * np.cos(angle)
    ys = half + t * np.sin(angle)
    np.add.at(kernel, (np.round(ys).astype(int), np.round(xs).astype(int)), 1.0)
    return kernel / kernel.sum()


def _motion_blur(x, severity, rng):
    length = _MOTION_LENGTH[severity - 1] * _scale(x.shape) * rng.uniform(0.9, 1.1)
    kernel = _motion_kernel(length, rng.uniform(0, np.pi))
    pad = kernel.shape[0] // 2

    def blur(channel):
        padded = np.pad(channel, pad, mode="edge")
        return signal.fftconvolve(padded, kernel, mode="same")[pad:-pad, pad:-pad].astype(np.float32)

    return _per_channel(x, blur)


def _underexposure(x, severity, rng):
    shift = _EXPOSURE_SHIFT[severity - 1] * rng.uniform(0.9, 1.1)
    return np.clip((x + shift) ** 0.85, 0.0, 1.0)


def _overexposure(x, severity, rng):
    shift = _EXPOSURE_SHIFT[severity - 1] * rng.uniform(0.9, 1.1)
    return np.clip(x - shift, 0.0, 1.0) ** 1.15


def _low_contrast(x, severity, rng):
    factor = _CONTRAST_FACTOR[severity - 1] * rng.uniform(0.92, 1.08)
    mean = float(_gray(x).mean())
    return mean + (x - mean) * factor


def _jpeg(x, severity, rng):
    quality = _JPEG_QUALITY[severity - 1]
    colour = x if x.ndim == 2 else x[..., 0] if x.shape[2] == 2 else x[..., :3]  # JPEG has no alpha
    image = Image.fromarray((np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(buffer), dtype=np.float32) / 255.0
    if x.ndim == 3 and x.shape[2] == 4:
        return np.concatenate([decoded, x[..., 3:]], axis=2)
    if x.ndim == 3 and x.shape[2] == 2:
        return np.stack([decoded, x[..., 1]], axis=2)
    return decoded


def _low_resolution(x, severity, rng):
    height, width = x.shape[:2]
    target = _RESOLUTION_FRACTION[severity - 1] * min(max(height, width), 1024) * rng.uniform(0.95, 1.05)
    factor = max(height, width) / max(target, 8.0)
    if factor <= 1.0:
        return x
    small = (max(2, round(width / factor)), max(2, round(height / factor)))
    return _per_channel(
        x, lambda c: _resize(_resize(c, small, Image.Resampling.BOX), (width, height), Image.Resampling.BILINEAR)
    )


def _grid_lines(x, severity, rng):
    height, width = x.shape[:2]
    period = rng.uniform(4.5, 8.0) * _scale(x.shape)
    # Anti-scatter grid lamellae are parallel to a detector axis.
    angle = 0.0 if rng.random() < 0.7 else np.pi / 2
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi)
    amplitude = _GRID_AMPLITUDE[severity - 1] * rng.uniform(0.9, 1.1)
    return _add_gray(x, amplitude * np.sin(phase).astype(np.float32))


def _rotation(x, severity, rng):
    angle = _ROTATION_DEGREES[severity - 1] * rng.uniform(0.9, 1.1) * (1 if rng.random() < 0.5 else -1)
    return _per_channel(
        x, lambda c: np.asarray(Image.fromarray(c.astype(np.float32)).rotate(
            angle, resample=Image.Resampling.BILINEAR, fillcolor=0.0), dtype=np.float32)
    )


def _cutoff(x, severity, rng):
    height = x.shape[0]
    apices = rng.random() < 0.5
    fraction = (_CUTOFF_TOP if apices else _CUTOFF_BOTTOM)[severity - 1] * rng.uniform(0.92, 1.08)
    shift = max(1, int(round(fraction * height)))
    pad = [(0, 0)] * x.ndim
    # No resampling: the anatomy moves out of the frame (apices above it or bases below it) and the
    # vacated band repeats the last row of the neighbouring region (abdomen or neck).
    if apices:
        pad[0] = (0, shift)
        return np.pad(x, pad, mode="edge")[shift:]
    pad[0] = (shift, 0)
    return np.pad(x, pad, mode="edge")[:height]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=max(6, size))
    except (TypeError, OSError):  # Pillow built without FreeType: bitmap font, fixed size
        return ImageFont.load_default()


def _annotation_mask(shape: tuple[int, int], severity: int, rng: np.random.Generator) -> np.ndarray:
    height, width = shape
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    text_height = max(7, int(_TEXT_HEIGHT[severity - 1] * height))
    font = _font(text_height)
    for item in range(_TEXT_ITEMS[severity - 1]):
        if severity >= 3 and item % 3 == 2:
            x0, y0 = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
            angle = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(0.06, 0.12) * height
            x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
            line_width = max(1, text_height // 6)
            draw.line([(x0, y0), (x1, y1)], fill=255, width=line_width)
            for side in (-0.5, 0.5):
                head = (x0 + 0.3 * length * np.cos(angle + side), y0 + 0.3 * length * np.sin(angle + side))
                draw.line([(x0, y0), head], fill=255, width=line_width)
            continue
        text = str(rng.choice(_TEXTS))
        if severity <= 2:
            corner_x = rng.choice([0.03, 0.75]) if len(text) > 2 else rng.choice([0.04, 0.9])
            x0, y0 = corner_x * width, rng.choice([0.03, 0.9]) * height
        else:
            x0, y0 = rng.uniform(0.02, 0.7) * width, rng.uniform(0.02, 0.92) * height
        draw.text((x0, y0), text, fill=255, font=font)
        if len(text) == 1 and rng.random() < 0.5:
            box = draw.textbbox((x0, y0), text, font=font)
            draw.rectangle([box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3], outline=255, width=2)
    return np.asarray(mask, dtype=np.float32) / 255.0


def _burned_in_text(x, severity, rng):
    mask = _annotation_mask(x.shape[:2], severity, rng)
    return _per_channel(x, lambda c: np.maximum(c, mask)) if x.ndim == 2 or x.shape[2] != 4 else np.concatenate(
        [np.maximum(x[..., :3], mask[..., None]), x[..., 3:]], axis=2)


def _screen_photo(x, severity, rng):
    height, width = x.shape[:2]
    strength = _SCREEN_STRENGTH[severity - 1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # Moire between the monitor's pixel grid and the camera sensor: a slow beat of two fine gratings.
    f1, f2 = rng.uniform(0.18, 0.3), rng.uniform(0.01, 0.03)
    theta = rng.uniform(0, np.pi)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    moire = 0.5 * (1 + np.sin(2 * np.pi * f2 * u * 512 / max(height, width))) * np.sin(2 * np.pi * f1 * u)
    # Glare: a broad specular highlight of the room light on the glass.
    gx, gy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.15, 0.6) * height
    radius = rng.uniform(0.18, 0.3) * max(height, width)
    glare = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * radius**2))
    gray = _gray(x)
    shot = 0.05 + 0.85 * gray + 0.025 * strength * moire + 0.35 * strength * glare * (1 - 0.5 * gray)
    shot = ndimage.gaussian_filter(shot, 0.6 * _scale(x.shape))
    # Perspective: the screen is a quadrilateral inside the photo, the surround is a dark room.
    inset = (0.03 + 0.1 * strength) * np.array([width, height])
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    jitter = rng.uniform(0.3, 1.0, size=(4, 2)) * inset
    keystone = rng.uniform(0.5, 1.0) * inset[0] * strength
    top_narrow = rng.random() < 0.5
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    quad = corners + signs * jitter
    left_corner, right_corner = (0, 1) if top_narrow else (3, 2)
    quad[left_corner, 0] += keystone
    quad[right_corner, 0] -= keystone
    coeffs = _perspective_coefficients(quad, corners)
    screen = np.asarray(Image.fromarray(shot.astype(np.float32)).transform(
        (width, height), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR, fillcolor=-1.0))
    room = 0.04 + 0.02 * ndimage.gaussian_filter(rng.standard_normal((height, width)).astype(np.float32), 3)
    photo = np.where(screen < -0.5, room, screen)
    photo = photo + rng.standard_normal(photo.shape, dtype=np.float32) * 0.008 * (1 + strength)
    if x.ndim == 2:
        return photo
    tint = np.array([0.97, 1.0, 1.06, 1.0][: x.shape[2]], dtype=np.float32)
    out = photo[..., None] * tint
    if x.shape[2] in (2, 4):
        out[..., -1] = x[..., -1]
    return out


def _perspective_coefficients(quad: np.ndarray, rect: np.ndarray) -> tuple[float, ...]:
    """Pillow PERSPECTIVE coefficients mapping output pixels (in `quad`) to input pixels (in `rect`)."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(quad, rect):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return tuple(np.linalg.solve(np.asarray(rows, dtype=np.float64), np.asarray(rhs, dtype=np.float64)))


_KIND_FUNCTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "quantum_noise": _quantum_noise,
    "gaussian_noise": _gaussian_noise,
    "defocus_blur": _defocus_blur,
    "motion_blur": _motion_blur,
    "underexposure": _underexposure,
    "overexposure": _overexposure,
    "low_contrast": _low_contrast,
    "jpeg": _jpeg,
    "low_resolution": _low_resolution,
    "grid_lines": _grid_lines,
    "rotation": _rotation,
    "cutoff": _cutoff,
    "burned_in_text": _burned_in_text,
    "screen_photo": _screen_photo,
}


def _check(kind: str, severity: int) -> None:
    if kind not in _KIND_FUNCTIONS:
        raise ValueError(f"unknown degradation kind {kind!r}; allowed: {list(DEGRADATION_KINDS)}")
    if isinstance(severity, bool) or int(severity) != severity or not 1 <= int(severity) <= 5:
        raise ValueError(f"severity must be an integer from 1 (barely visible) to 5 (non-diagnostic), got {severity!r}")


def degrade(image: Any, kind: str, severity: int, seed: int | np.random.Generator | None = 0) -> Any:
    """Applies one degradation.

    Args:
        image: PIL image (`L`, `I;16`, `RGB`, `RGBA`, `LA`, ...) or numpy array (H, W) / (H, W, C) of
            uint8, uint16 or float in [0, 1].
        kind: one of `DEGRADATION_KINDS`.
        severity: 1 (barely visible) .. 5 (non-diagnostic).
        seed: int seed or a `numpy.random.Generator` (the global numpy seed is never used).

    Returns:
        The degraded image, same type, shape, mode / dtype as `image`.
    """
    _check(kind, severity)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    array, spec = to_float(image)
    alpha = None
    if array.ndim == 3 and array.shape[2] in (2, 4) and kind not in ("jpeg", "burned_in_text", "screen_photo"):
        alpha, array = array[..., -1:], array[..., :-1]
        array = array[..., 0] if array.shape[2] == 1 else array
    out = _KIND_FUNCTIONS[kind](array, int(severity), rng).astype(np.float32, copy=False)
    if alpha is not None:
        out = np.concatenate([out[..., None] if out.ndim == 2 else out, alpha], axis=2)
    return from_float(np.clip(out, 0.0, 1.0), spec)


@dataclass(frozen=True)
class Degradation:
    """One configured degradation, usable as a transform: `Degradation("jpeg", 3)(image, seed=1)`."""

    kind: str
    severity: int

    def __post_init__(self) -> None:
        _check(self.kind, self.severity)

    def __call__(self, image: Any, seed: int | np.random.Generator | None = 0) -> Any:
        return degrade(image, self.kind, self.severity, seed)


class ComposedDegradation:
    """Several degradations applied in order, each with its own generator derived from one seed."""

    def __init__(self, steps: Sequence[Degradation]):
        self.steps = tuple(steps)

    def __call__(self, image: Any, seed: int | np.random.Generator | None = 0) -> Any:
        if isinstance(seed, np.random.Generator):
            generators = seed.spawn(len(self.steps))
        else:
            generators = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(len(self.steps))]
        for step, generator in zip(self.steps, generators):
            image = step(image, generator)
        return image

    def __repr__(self) -> str:
        return "compose([" + ", ".join(f"({s.kind!r}, {s.severity})" for s in self.steps) + "])"


def compose(steps: Sequence[Degradation | tuple[str, int] | dict[str, Any]]) -> ComposedDegradation:
    """Chains degradations: `compose([("motion_blur", 2), ("jpeg", 4)])(image, seed=0)`.

    Args:
        steps: `Degradation` objects, `(kind, severity)` pairs or `{"kind": ..., "severity": ...}` dicts.

    Returns:
        A callable `(image, seed=0) -> image` keeping the input's type and mode.
    """
    parsed = []
    for step in steps:
        if isinstance(step, Degradation):
            parsed.append(step)
        elif isinstance(step, dict):
            parsed.append(Degradation(step["kind"], int(step["severity"])))
        else:
            kind, severity = step
            parsed.append(Degradation(kind, int(severity)))
    return ComposedDegradation(parsed)


def sample_degradation(
    seed: int | np.random.Generator | None,
    kinds: Sequence[str] = DEGRADATION_KINDS,
    severities: Sequence[int] = SEVERITIES,
) -> Degradation:
    """Draws a random (kind, severity), e.g. for on-the-fly low-quality views in a collator."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return Degradation(str(rng.choice(list(kinds))), int(rng.choice(list(severities))))


__all__ = [
    "DEGRADATION_KINDS",
    "KIND_DESCRIPTIONS",
    "KIND_TO_CRITERION",
    "SEVERITIES",
    "ComposedDegradation",
    "Degradation",
    "compose",
    "degrade",
    "sample_degradation",
]
