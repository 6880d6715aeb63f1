"""Procedural phantom chest radiographs with known findings and matching reports (the embedded default data).

Anatomy is drawn in normalised coordinates (x, y in [0, 1], patient's right on the image left) as
soft-edged regions with approximate signed distances, so shapes stay smooth at any size and are
cheap to render with numpy. Display convention of a radiograph: dense (bone, fluid, devices) is
bright, air is dark. Findings are drawn large enough to be seen at 128-256 px.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from .phantom_reports import write_report

FINDING_NAMES: tuple[str, ...] = (
    "cardiomegaly",
    "pleural_effusion",
    "pneumothorax",
    "consolidation",
    "lung_opacity",
    "edema",
    "atelectasis",
    "nodule",
    "mass",
    "support_devices",
    "fracture",
)

# Independent prevalence of each finding when `findings=None` (roughly a mixed in-patient population).
DEFAULT_FINDING_PROBS: dict[str, float] = {
    "cardiomegaly": 0.22,
    "pleural_effusion": 0.2,
    "pneumothorax": 0.08,
    "consolidation": 0.16,
    "lung_opacity": 0.06,
    "edema": 0.1,
    "atelectasis": 0.12,
    "nodule": 0.06,
    "mass": 0.03,
    "support_devices": 0.2,
    "fracture": 0.04,
}
UNCERTAIN_PROBABILITY = 0.12
RENDER_SIZE = 256


@dataclass
class PhantomStudy:
    """One phantom study: the image, its report and its labels."""

    image: Image.Image
    findings: str
    impression: str
    labels: dict[str, int | None]
    view: str
    seed: int
    present: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def report(self) -> str:
        """Findings and impression as one text."""
        return f"FINDINGS: {self.findings}\nIMPRESSION: {self.impression}"

    def to_dict(self) -> dict[str, Any]:
        """A dataset row: image, text, the 14 labels, view, seed and the drawn findings' names."""
        return {"image": self.image, "findings": self.findings, "impression": self.impression, "view": self.view,
                "seed": self.seed, "present": sorted(self.present), **self.labels}


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    return coords[None, :].repeat(size, 0), coords[:, None].repeat(size, 1)


def _soft(margin: np.ndarray, width: float) -> np.ndarray:
    """Soft mask from a signed margin (positive inside), edge `width` wide in normalised units."""
    return np.clip(margin / width + 0.5, 0.0, 1.0)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)


def _anatomy(rng: np.random.Generator, view: str, present: Mapping[str, dict]) -> dict[str, float]:
    a: dict[str, float] = {"cx": 0.5 + rng.normal(0, 0.008)}
    a["body"] = rng.uniform(0.40, 0.47)
    a["tw"] = a["body"] - rng.uniform(0.045, 0.07)  # half width of the thorax (inner ribs)
    a["mw"] = rng.uniform(0.05, 0.065)  # half width of the upper mediastinum
    a["apex"] = rng.uniform(0.1, 0.15)
    a["base"] = rng.uniform(0.76, 0.84) - (0.04 if view == "AP" else 0.0)
    a["dome_r"] = rng.uniform(0.07, 0.1)
    a["dome_l"] = a["dome_r"] - rng.uniform(0.01, 0.03)
    normal_ctr = rng.uniform(0.40, 0.47)  # drawn either way: the rest of the anatomy must not depend on findings
    ctr = present["cardiomegaly"]["ctr"] if "cardiomegaly" in present else normal_ctr
    a["ctr"] = ctr
    a["hax"] = ctr * a["tw"] * (1.06 if view == "AP" else 1.0)
    a["hay"] = rng.uniform(0.15, 0.17) * (1.1 if "cardiomegaly" in present else 1.0)
    a["hcx"] = a["cx"] + 0.36 * a["hax"]
    a["hcy"] = a["base"] - a["dome_l"] - a["hay"] * 0.2
    a["air"] = rng.uniform(0.3, 0.38)
    a["tissue"] = rng.uniform(0.5, 0.6)
    a["bone"] = rng.uniform(0.07, 0.11)
    if "atelectasis" in present:  # volume loss elevates the hemidiaphragm of that side
        a["dome_r" if present["atelectasis"]["side"] == "right" else "dome_l"] += 0.035
    a["hilum_y"] = a["apex"] + 0.42 * (a["base"] - a["apex"])
    return a


def _lung_margin(x: np.ndarray, y: np.ndarray, a: dict[str, float], side: int) -> np.ndarray:
    """Approximate signed distance to one lung's outline (side -1: image left = patient right)."""
    u = side * (x - a["cx"])
    v = (y - a["apex"]) / (a["base"] - a["apex"])
    centre = 0.5 * (a["tw"] + a["mw"]) - 0.01
    half = 0.5 * (a["tw"] - a["mw"]) * np.sqrt(np.clip(v / 0.42, 0.0, 1.0))
    margin_x = half - np.abs(u - centre)
    t = np.clip((a["tw"] - u) / (a["tw"] - a["mw"]), 0.0, 1.0)
    dome = a["dome_r"] if side < 0 else a["dome_l"]
    dome_y = a["base"] + (0.0 if side < 0 else 0.015) - dome * np.sin(np.pi / 2 * np.clip(t / 0.55, 0.0, 1.0))
    return np.minimum(np.minimum(margin_x, (dome_y - y) * 0.8), y - a["apex"] + 0.004)


def _draw_layers(size: int, a: dict[str, float], present: Mapping[str, dict], rng: np.random.Generator, view: str):
    """Bones, vessels, dense lesions and devices drawn with Pillow as 8-bit layers."""
    layers = {name: Image.new("L", (size, size), 0) for name in ("bone", "vessel", "dense", "device")}
    draws = {name: ImageDraw.Draw(image) for name, image in layers.items()}
    s = float(size)

    def pts(points):
        return [(px * s, py * s) for px, py in points]

    def width(value):
        return max(1, int(round(value * s)))

    cx, tw = a["cx"], a["tw"]
    fracture = present.get("fracture")
    spacing = (a["base"] - a["apex"]) / 8.5
    for side in (-1, 1):
        for i in range(9):
            y0 = a["apex"] - 0.035 + i * spacing
            t = np.linspace(0, 1, 14)
            xs = cx + side * (0.03 + t * (tw + 0.015))
            ys = y0 - 0.03 * t + 0.16 * t**2
            line = list(zip(xs, ys))
            if fracture and fracture.get("side") == ("right" if side < 0 else "left") and i == fracture["rib"] + 2:
                cut = 9
                draws["bone"].line(pts(line[:cut]), fill=255, width=width(0.016))
                shifted = [(px, py + 0.012) for px, py in line[cut:]]
                shifted[0] = (shifted[0][0] + side * 0.008, shifted[0][1])
                draws["bone"].line(pts(shifted), fill=255, width=width(0.016))
            else:
                draws["bone"].line(pts(line), fill=255, width=width(0.016))
            front = [(xs[-1] - side * 0.25 * k * tw, ys[-1] + 0.05 + 0.06 * k) for k in np.linspace(0, 1, 6)]
            draws["bone"].line(pts(front), fill=110, width=width(0.012))
        clav_y = a["apex"] + (0.0 if view == "PA" else -0.03)
        lift = 0.045 if view == "PA" else 0.01
        draws["bone"].line(pts([(cx + side * 0.035, clav_y + 0.03), (cx + side * 0.16, clav_y + 0.01),
                                (cx + side * 0.3, clav_y + 0.03 - lift)]), fill=255, width=width(0.022))
        hx, hy = cx + side * (a["mw"] + 0.04), a["hilum_y"]
        for _ in range(16):
            angle = rng.uniform(-0.85 * np.pi, 0.85 * np.pi) if side > 0 else rng.uniform(0.15 * np.pi, 1.85 * np.pi)
            direction = np.array([np.cos(angle), np.sin(angle)])
            if side * direction[0] < 0:
                direction[0] = -direction[0]
            length = rng.uniform(0.12, 0.3)
            steps = np.linspace(0, length, 6)
            wobble = rng.normal(0, 0.01, 6).cumsum()
            vessel = [(hx + d * direction[0] - w * direction[1], hy + d * direction[1] + w * direction[0])
                      for d, w in zip(steps, wobble)]
            draws["vessel"].line(pts(vessel), fill=255, width=width(0.007))
    return layers, draws, pts, width


def _draw_findings(draws, pts, width, a, present, rng):
    """Dense lesions (nodule, mass, atelectasis, Kerley-type septal lines) and support devices."""
    cx = a["cx"]
    for name in ("nodule", "mass"):
        if name in present:
            p = present[name]
            r = p["radius"]
            draws["dense"].ellipse(pts([(p["x"] - r, p["y"] - r), (p["x"] + r, p["y"] + r)]), fill=255)
    if "atelectasis" in present:
        p = present["atelectasis"]
        side = -1 if p["side"] == "right" else 1
        y = a["base"] - 0.17
        draws["dense"].line(pts([(cx + side * 0.17, y + 0.025), (cx + side * 0.36, y - 0.01)]), fill=255,
                            width=width(0.022))
    if "edema" in present:
        for side in (-1, 1):
            for k in range(7):
                y = a["base"] - 0.2 + 0.025 * k
                x0 = cx + side * (a["tw"] - 0.005)
                draws["vessel"].line(pts([(x0, y), (x0 - side * 0.03, y)]), fill=200, width=width(0.004))
    devices = present.get("support_devices", {}).get("devices", ())
    carina_y = a["apex"] + 0.24
    if "ett" in devices:
        draws["device"].line(pts([(cx + 0.004, 0.0), (cx + 0.002, carina_y - 0.05)]), fill=235, width=width(0.013))
    if "central_line" in devices:
        draws["device"].line(pts([(cx - 0.12, 0.0), (cx - 0.09, 0.12), (cx - 0.05, 0.2), (cx - 0.035, carina_y + 0.04)]),
                             fill=245, width=width(0.006))
    if "pacemaker" in devices:
        gx, gy = cx + 0.24, a["apex"] + 0.1
        draws["device"].rounded_rectangle(pts([(gx - 0.04, gy - 0.028), (gx + 0.04, gy + 0.028)]),
                                          radius=width(0.01), fill=250)
        for dy in (0.0, 0.05):
            draws["device"].line(pts([(gx - 0.02, gy), (cx + 0.02, gy + 0.05), (a["hcx"] - 0.02, a["hcy"] + dy)]),
                                 fill=245, width=width(0.005))


def _draw_findings_density(x, y, a, present, rng, size):
    """Returns (air_keep, extra_density, ptx_dark, pleural_edge, markings_keep) maps for the lung findings."""
    shape = x.shape
    air_keep = np.ones(shape, np.float32)
    extra = np.zeros(shape, np.float32)
    markings_keep = np.ones(shape, np.float32)
    ptx_dark = np.zeros(shape, np.float32)
    edge = np.zeros(shape, np.float32)
    if "pleural_effusion" in present:
        p = present["pleural_effusion"]
        for side in {"right": (-1,), "left": (1,), "bilateral": (-1, 1)}[p["side"]]:
            u = side * (x - a["cx"])
            t = np.clip((a["tw"] - u) / (a["tw"] - a["mw"]), 0, 1)
            surface = a["base"] - p["depth"] - p["meniscus"] * (1 - t) ** 2
            inside = (u > a["mw"] - 0.01) & (u < a["tw"] + 0.01)
            fluid = _soft(y - surface, 0.03) * inside
            air_keep *= 1 - 0.97 * fluid
            markings_keep *= 1 - fluid
            extra += 0.05 * fluid
    if "consolidation" in present or "lung_opacity" in present:
        for name, strength in (("consolidation", 0.9), ("lung_opacity", 0.55)):
            if name not in present:
                continue
            p = present[name]
            r = np.sqrt(((x - p["x"]) / p["rx"]) ** 2 + ((y - p["y"]) / p["ry"]) ** 2)
            noise = _smooth_noise(rng, size, 9)
            blob = _soft(1 - r + 0.45 * noise, 0.25 if name == "lung_opacity" else 0.15)
            if name == "lung_opacity":
                blob *= np.clip(0.6 + 0.6 * _smooth_noise(rng, size, 14), 0, 1)
            air_keep *= 1 - strength * blob
    if "edema" in present:
        strength = present["edema"]["strength"]
        for side in (-1, 1):
            u = side * (x - a["cx"])
            haze = np.exp(-(((u - a["mw"] - 0.04) / 0.13) ** 2) - ((y - a["hilum_y"] - 0.03) / 0.17) ** 2)
            air_keep *= 1 - strength * haze
    if "pneumothorax" in present:
        p = present["pneumothorax"]
        side = -1 if p["side"] == "right" else 1
        hx, hy = a["cx"] + side * (a["mw"] + 0.05), a["base"] - 0.05
        f = p["collapse"]
        lung = _soft(_lung_margin(x, y, a, side), 0.004)
        collapsed_margin = _lung_margin(hx + (x - hx) / f, hy + (y - hy) / f, a, side) * f
        collapsed = _soft(collapsed_margin, 0.004)
        ptx = np.clip(lung - collapsed, 0, 1)
        markings_keep *= 1 - ptx
        ptx_dark += ptx
        edge += np.exp(-((collapsed_margin / (1.2 / size)) ** 2)) * lung
    return air_keep, extra, ptx_dark, edge, markings_keep


def _render(size: int, a: dict[str, float], present: Mapping[str, dict], rng: np.random.Generator, view: str):
    x, y = _grid(size)
    edge_w = 1.5 / size
    cx = a["cx"]
    neck = np.clip((y - (a["apex"] - 0.12)) / 0.14, 0.0, 1.0)
    half_body = a["body"] * (0.32 + 0.68 * np.sqrt(neck))
    body_r = np.abs(x - cx) / half_body
    body = _soft(1 - body_r, 0.02) * np.sqrt(np.clip(1 - body_r**2, 0, 1))
    image = 0.04 + a["tissue"] * (0.55 + 0.45 * body) * _soft(1 - body_r, 0.01)
    lungs = [_soft(_lung_margin(x, y, a, side), edge_w * 1.5) for side in (-1, 1)]
    lung = np.maximum(lungs[0], lungs[1])
    heart_r = np.sqrt(((x - a["hcx"]) / a["hax"]) ** 2 + ((y - a["hcy"]) / a["hay"]) ** 2)
    heart = _soft((1 - heart_r) * min(a["hax"], a["hay"]), edge_w * 2)
    layers, draws, pts, width = _draw_layers(size, a, present, rng, view)
    _draw_findings(draws, pts, width, a, present, rng)
    air_keep, extra, ptx_dark, pleural_edge, markings_keep = _draw_findings_density(x, y, a, present, rng, size)
    blur = {"vessel": 0.6, "dense": 1.0, "bone": 0.5, "device": 0.0}
    layer = {}
    for name, img in layers.items():
        if blur[name]:
            img = img.filter(ImageFilter.GaussianBlur(blur[name] * size / 256))
        layer[name] = np.asarray(img, dtype=np.float32) / 255.0
    vessels = layer["vessel"] * (1.6 if "edema" in present else 1.0)
    vertical = (y - a["apex"]) / (a["base"] - a["apex"])
    air = a["air"] * (1.0 - 0.22 * np.clip(vertical, 0, 1)) * (1 + 0.08 * _smooth_noise(rng, size, 12))
    dense = layer["dense"]
    air_keep = air_keep * (1 - 0.95 * dense)
    image = image - air * lung * (1 - 0.8 * heart) * air_keep - 0.06 * ptx_dark
    image += 0.08 * vessels * lung * markings_keep * (1 - heart) * air_keep + extra
    spine = _soft(0.035 - np.abs(x - cx), edge_w) * (0.8 + 0.2 * np.cos(2 * np.pi * y / 0.045))
    image += a["bone"] * 0.7 * spine
    image += a["bone"] * layer["bone"] * _soft(1 - body_r, 0.02) * _soft(a["base"] + 0.03 - y, 0.04)
    image += 0.14 * pleural_edge
    bubble = np.exp(-(((x - cx - 0.17) / 0.05) ** 2) - ((y - a["base"] - 0.05) / 0.03) ** 2)
    image -= 0.08 * bubble
    device = layer["device"]
    image = image + (0.95 - image) * device
    return image


def _choose_findings(
    rng: np.random.Generator, findings: Sequence[str] | Mapping[str, dict] | None, probs: Mapping[str, float]
) -> dict[str, dict]:
    if findings is None:
        chosen = {name: {} for name in FINDING_NAMES if rng.random() < probs.get(name, 0.0)}
    elif isinstance(findings, Mapping):
        chosen = {name: dict(attrs or {}) for name, attrs in findings.items()}
    else:
        chosen = {name: {} for name in findings}
    unknown = set(chosen) - set(FINDING_NAMES)
    if unknown:
        raise ValueError(f"unknown phantom finding(s) {sorted(unknown)}; allowed: {list(FINDING_NAMES)}")
    return chosen


def _finding_attributes(rng: np.random.Generator, present: dict[str, dict], a_view: str) -> None:
    """Fills in random attributes (side, size, location, certainty) that the caller did not fix."""
    def setdefault(name, key, value):
        present[name].setdefault(key, value)

    sides = ("right", "left")
    for name, attrs in present.items():
        if name not in ("support_devices", "fracture", "mass", "nodule"):
            attrs.setdefault("certainty", -1 if rng.random() < UNCERTAIN_PROBABILITY else 1)
    if "cardiomegaly" in present:
        setdefault("cardiomegaly", "degree", str(rng.choice(["mild", "moderate", "marked"])))
        base = {"mild": 0.57, "moderate": 0.61, "marked": 0.66}[present["cardiomegaly"]["degree"]]
        setdefault("cardiomegaly", "ctr", base + rng.uniform(-0.01, 0.02))
    if "pleural_effusion" in present:
        setdefault("pleural_effusion", "side", str(rng.choice(["right", "left", "bilateral"], p=[0.35, 0.35, 0.3])))
        setdefault("pleural_effusion", "size", str(rng.choice(["small", "moderate", "large"], p=[0.4, 0.4, 0.2])))
        depth = {"small": 0.06, "moderate": 0.13, "large": 0.24}[present["pleural_effusion"]["size"]]
        setdefault("pleural_effusion", "depth", depth * rng.uniform(0.85, 1.15))
        setdefault("pleural_effusion", "meniscus", 0.05 + 0.3 * depth)
    if "pneumothorax" in present:
        setdefault("pneumothorax", "side", str(rng.choice(sides)))
        setdefault("pneumothorax", "size", str(rng.choice(["small", "moderate", "large"], p=[0.4, 0.4, 0.2])))
        collapse = {"small": 0.86, "moderate": 0.76, "large": 0.64}[present["pneumothorax"]["size"]]
        setdefault("pneumothorax", "collapse", collapse + rng.uniform(-0.02, 0.02))
    for name in ("consolidation", "lung_opacity"):
        if name in present:
            setdefault(name, "side", str(rng.choice(sides)))
            setdefault(name, "zone", str(rng.choice(["upper", "middle", "lower"])))
    for name in ("nodule", "mass"):
        if name in present:
            setdefault(name, "side", str(rng.choice(sides)))
            setdefault(name, "zone", str(rng.choice(["upper", "middle", "lower"], p=[0.5, 0.3, 0.2])))
            radius = rng.uniform(0.014, 0.022) if name == "nodule" else rng.uniform(0.04, 0.06)
            setdefault(name, "radius", radius)
            setdefault(name, "size_cm", round(radius * 2 * 35, 1))
    if "edema" in present:
        setdefault("edema", "degree", str(rng.choice(["mild", "moderate", "severe"], p=[0.4, 0.4, 0.2])))
        setdefault("edema", "strength", {"mild": 0.35, "moderate": 0.5, "severe": 0.65}[present["edema"]["degree"]])
    if "atelectasis" in present:
        setdefault("atelectasis", "side", str(rng.choice(sides)))
    if "fracture" in present:
        setdefault("fracture", "side", str(rng.choice(sides)))
        setdefault("fracture", "rib", int(rng.integers(0, 5)))
    if "support_devices" in present:
        count = int(rng.integers(1, 4))
        devices = tuple(str(d) for d in rng.choice(["ett", "central_line", "pacemaker"], size=count, replace=False))
        setdefault("support_devices", "devices", devices)


def _place_lesions(present: dict[str, dict], a: dict[str, float]) -> None:
    """Centres of focal findings inside the right lung zone."""
    zone_y = {"upper": 0.22, "middle": 0.45, "lower": 0.7}
    for name in ("consolidation", "lung_opacity", "nodule", "mass"):
        if name not in present:
            continue
        p = present[name]
        side = -1 if p["side"] == "right" else 1
        frac = zone_y[p["zone"]]
        p.setdefault("y", a["apex"] + frac * (a["base"] - a["apex"]))
        lateral = 0.6 if p["zone"] != "lower" or side < 0 else 0.72
        p.setdefault("x", a["cx"] + side * (a["mw"] + lateral * (a["tw"] - a["mw"])))
        if name in ("consolidation", "lung_opacity"):
            p.setdefault("rx", 0.1 if name == "consolidation" else 0.11)
            p.setdefault("ry", 0.11 if name == "consolidation" else 0.1)


def generate_phantom(
    seed: int,
    findings: Sequence[str] | Mapping[str, dict] | None = None,
    size: int = 512,
    bit_depth: int = 8,
    view: str | None = None,
    finding_probs: Mapping[str, float] | None = None,
) -> PhantomStudy:
    """Draws one phantom frontal chest radiograph with its report and labels.

    Args:
        seed: makes the study deterministic.
        findings: `None` draws findings at `finding_probs` prevalence; a list of names from `FINDING_NAMES`
            draws exactly those (empty = normal study); a dict name -> attributes fixes e.g.
            `{"pleural_effusion": {"side": "left", "size": "large"}}`.
        size: output side in pixels (square image), 32..4096.
        bit_depth: 8 (PIL `L`) or 16 (PIL `I;16`).
        view: "PA", "AP" or `None` (random, 70 % PA).
        finding_probs: prevalence per finding name (defaults to `DEFAULT_FINDING_PROBS`).

    Returns:
        A `PhantomStudy` (image, findings, impression, labels, view, seed, present).
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    if not isinstance(size, (int, np.integer)) or not 32 <= size <= 4096:
        raise ValueError(f"size must be an integer between 32 and 4096 pixels, got {size!r}")
    if view not in (None, "PA", "AP"):
        raise ValueError(f"view must be 'PA', 'AP' or None, got {view!r}")
    probs = dict(DEFAULT_FINDING_PROBS if finding_probs is None else finding_probs)
    unknown = set(probs) - set(FINDING_NAMES)
    if unknown:
        raise ValueError(f"unknown finding name(s) in finding_probs {sorted(unknown)}; allowed: {list(FINDING_NAMES)}")
    # Independent streams: the same seed gives the same patient and acquisition with or without a finding.
    rng_anatomy, rng_findings, rng_render, rng_acquisition, rng_report = (
        np.random.default_rng([int(seed), stream]) for stream in range(5))
    view = view or ("PA" if rng_anatomy.random() < 0.7 else "AP")
    present = _choose_findings(rng_findings, findings, probs)
    _finding_attributes(rng_findings, present, view)
    anatomy = _anatomy(rng_anatomy, view, present)
    _place_lesions(present, anatomy)
    # Anatomy is smooth: render at most at 256 px and upsample; detector noise is added at full size.
    render_size = min(int(size), RENDER_SIZE)
    image = _render(render_size, anatomy, present, rng_render, view)
    # Acquisition variation: window / gamma, detector blur and quantum mottle.
    rng = rng_acquisition
    image = np.clip(image, 0, 1) ** rng.uniform(0.85, 1.15) * rng.uniform(0.92, 1.05)
    image = ndimage.gaussian_filter(image, 0.55, truncate=2.5)
    if render_size != size:
        image = np.asarray(Image.fromarray(image.astype(np.float32)).resize((size, size), Image.Resampling.BICUBIC))
    image = image + rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(0.003, 0.009)
    image = np.clip(image, 0.0, 1.0)
    if bit_depth == 16:
        pil = Image.fromarray((image * 65535.0 + 0.5).astype(np.uint16))
    else:
        pil = Image.fromarray((image * 255.0 + 0.5).astype(np.uint8))
    findings_text, impression, labels = write_report(present, view, rng_report)
    return PhantomStudy(pil, findings_text, impression, labels, view, int(seed), present)


def iter_phantom_studies(num_studies: int, seed: int = 0, size: int = 256, **kwargs: Any) -> Iterator[PhantomStudy]:
    """Yields `num_studies` phantom studies with seeds derived from `seed` (dataset-shaped iteration).

    Args:
        num_studies: how many studies.
        seed: base seed; study i uses `seed * 1_000_003 + i`.
        size: image side in pixels.
        **kwargs: passed to `generate_phantom` (`findings`, `bit_depth`, `view`, `finding_probs`).
    """
    if num_studies < 0:
        raise ValueError(f"num_studies must be >= 0, got {num_studies}")
    for index in range(num_studies):
        yield generate_phantom(seed * 1_000_003 + index, size=size, **kwargs)


__all__ = [
    "DEFAULT_FINDING_PROBS",
    "FINDING_NAMES",
    "PhantomStudy",
    "generate_phantom",
    "iter_phantom_studies",
]
