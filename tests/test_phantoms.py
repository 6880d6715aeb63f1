"""Phantom radiographs: determinism, formats, visible findings, and reports that agree with their labels."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS
from lrrg.dataset_scripts.phantoms import FINDING_NAMES, generate_phantom, iter_phantom_studies

# Mention phrases of the CheXpert labeller (subset) -> observation; used to read the reports back.
MENTIONS = {
    "Pleural Effusion": ("effusion",),
    "Pneumothorax": ("pneumothora",),
    "Consolidation": ("consolidat",),
    "Edema": ("edema", "heart failure", "vascular congestion"),
    "Atelectasis": ("atelecta",),
    "Cardiomegaly": ("cardiomegaly", "the heart", "heart size", "cardiac silhouette", "enlarged heart"),
    "Lung Lesion": ("nodule", "mass"),
    "Fracture": ("fracture",),
    "Support Devices": ("tube", "catheter", r"lines?\b", "pacemaker", "pacer", "device"),
    "Lung Opacity": ("opaci",),
    "Pneumonia": ("pneumonia",),
    "Enlarged Cardiomediastinum": ("cardiomediastinal", "mediastinal contour"),
}
NEGATION = re.compile(r"^(no |there is no |heart size is normal|normal heart size|the heart is not enlarged|"
                      r"heart size and mediastinal contours are normal|.* within normal limits)", re.IGNORECASE)
UNCERTAIN = re.compile(r"\b(may|possible|possibly|questionable|likely|cannot be excluded|concerning for)\b",
                       re.IGNORECASE)


def read_labels(text: str) -> dict[str, int]:
    """A tiny CheXpert-style reader (phrases are regexes): per sentence, mention -> negated (0) / uncertain (-1) / positive (1)."""
    labels: dict[str, int] = {}
    for sentence in re.split(r"(?<=\.)\s+", text):
        lower = sentence.lower()
        for name, phrases in MENTIONS.items():
            if not any(re.search(r"\b" + p, lower) for p in phrases):
                continue
            value = 0 if NEGATION.search(sentence) else -1 if UNCERTAIN.search(sentence) else 1
            old = labels.get(name)
            if old is None or value == 1 or (value == -1 and old == 0):
                labels[name] = value
    return labels


def test_deterministic_and_seed_dependent():
    a = generate_phantom(7, size=128)
    b = generate_phantom(7, size=128)
    c = generate_phantom(8, size=128)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.findings == b.findings and a.labels == b.labels
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))


@pytest.mark.parametrize(("size", "bit_depth", "mode"), [(128, 8, "L"), (300, 16, "I;16"), (512, 8, "L")])
def test_sizes_and_bit_depths(size, bit_depth, mode):
    study = generate_phantom(1, size=size, bit_depth=bit_depth, view="AP")
    assert study.image.size == (size, size) and study.image.mode == mode and study.view == "AP"
    array = np.asarray(study.image).astype(np.float64)
    top = 65535 if bit_depth == 16 else 255
    # Radiograph intensities: dark lungs, bright mediastinum, a wide range used.
    assert np.percentile(array, 95) - np.percentile(array, 5) > 0.4 * top


def test_anatomy_lungs_dark_mediastinum_bright():
    image = np.asarray(generate_phantom(3, findings=[], size=256).image, dtype=np.float64)
    lungs = np.concatenate([image[90:130, 55:85].ravel(), image[90:130, 170:200].ravel()])
    spine = image[90:130, 124:132]
    assert spine.mean() > lungs.mean() + 60


def test_reports_agree_with_labels():
    for study in iter_phantom_studies(150, seed=11, size=32):
        text = f"{study.findings} {study.impression}"
        read = read_labels(text)
        for name, value in study.labels.items():
            if name == "No Finding":
                continue
            assert read.get(name) == value, (name, value, read.get(name), text)
        positives = [n for n, v in study.labels.items() if n not in ("No Finding", "Support Devices") and v in (1, -1)]
        assert (study.labels["No Finding"] == 1) == (not positives)
        assert set(study.labels) == set(CHEXPERT_OBSERVATIONS)
        assert study.findings.strip() and study.impression.strip()


def test_findings_are_drawn_and_reported():
    for index, name in enumerate(FINDING_NAMES):
        study = generate_phantom(100 + index, findings=[name], size=64)
        assert list(study.present) == [name]
    effusion = generate_phantom(5, findings={"pleural_effusion": {"side": "left", "size": "large", "certainty": 1}})
    assert effusion.labels["Pleural Effusion"] == 1 and "left" in effusion.findings.lower()
    normal = generate_phantom(5, findings=[], size=64)
    assert normal.labels["No Finding"] == 1 and not normal.present


def _paired_difference(seed: int, findings: dict, size: int = 128) -> np.ndarray:
    """Finding minus normal for the same patient (the same seed draws the same anatomy and acquisition)."""
    normal = np.asarray(generate_phantom(seed, findings={}, size=size, view="PA").image, dtype=np.float64)
    abnormal = np.asarray(generate_phantom(seed, findings=findings, size=size, view="PA").image, dtype=np.float64)
    return abnormal - normal


def test_same_seed_same_patient():
    a = np.asarray(generate_phantom(9, findings={}, size=64).image, dtype=float)
    b = np.asarray(generate_phantom(9, findings={"nodule": {"side": "left", "zone": "upper"}}, size=64).image, dtype=float)
    assert 0 < np.abs(a - b).mean() < 3  # only the nodule differs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_findings_visible_at_low_resolution(seed):
    """At 128 px: effusion whitens the base, cardiomegaly widens the heart shadow, pneumothorax darkens the
    lung periphery, consolidation and edema add density, each in its own region (8-bit grey levels)."""
    upper = (slice(25, 45), slice(None))
    effusion = _paired_difference(seed, {"pleural_effusion": {"side": "right", "size": "large"}})
    assert effusion[80:100, 15:50].mean() > 25 and abs(effusion[upper].mean()) < 1
    heart = _paired_difference(seed, {"cardiomegaly": {"degree": "marked"}})
    assert heart[65:95, 70:110].mean() > 8 and abs(heart[upper].mean()) < 1
    ptx = _paired_difference(seed, {"pneumothorax": {"side": "left", "size": "large"}})
    assert ptx[30:80, 95:115].mean() < -3
    consolidation = _paired_difference(seed, {"consolidation": {"side": "right", "zone": "lower"}})
    assert consolidation[60:95, 10:60].mean() > 10
    edema = _paired_difference(seed, {"edema": {"degree": "moderate"}})
    assert edema[40:75, 30:100].mean() > 5


def test_finding_probs_control_prevalence():
    studies = list(iter_phantom_studies(60, seed=2, size=32, finding_probs={"cardiomegaly": 1.0}))
    assert all(list(s.present) == ["cardiomegaly"] for s in studies)
    none = list(iter_phantom_studies(20, seed=2, size=32, finding_probs={}))
    assert all(s.labels["No Finding"] == 1 for s in none)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown phantom finding"):
        generate_phantom(0, findings=["tumour"])
    with pytest.raises(ValueError, match="bit_depth"):
        generate_phantom(0, bit_depth=12)
    with pytest.raises(ValueError, match="view"):
        generate_phantom(0, view="LAT")
    with pytest.raises(ValueError, match="size"):
        generate_phantom(0, size=8)


@pytest.mark.parametrize("seed", [0, 1])
def test_focal_findings_are_drawn_where_the_report_places_them(seed):
    """Nodule, mass, atelectasis, lung opacity, devices and rib fracture each change the image of the same
    patient, and in the region their attributes name (128 px; differences in 8-bit grey levels)."""
    size = 128

    def changed(findings, threshold=8):
        return np.abs(_paired_difference(seed, findings, size)) > threshold

    for name in ("nodule", "mass"):
        study = generate_phantom(seed, findings={name: {"side": "left", "zone": "upper"}}, size=size, view="PA")
        ys, xs = np.nonzero(changed({name: {"side": "left", "zone": "upper"}}))
        assert len(ys) >= 20, name
        centre = (study.present[name]["x"] * size, study.present[name]["y"] * size)
        assert abs(xs.mean() - centre[0]) < 4 and abs(ys.mean() - centre[1]) < 4, (name, xs.mean(), ys.mean(), centre)
    atelectasis = changed({"atelectasis": {"side": "right"}})
    assert atelectasis[size // 2 :, : size // 2].sum() > 100 and atelectasis[: size // 3].sum() == 0
    opacity = _paired_difference(seed, {"lung_opacity": {"side": "right", "zone": "lower"}}, size)
    assert opacity[60:95, 10:60].mean() > 4
    devices = changed({"support_devices": {"devices": ("ett", "pacemaker")}})
    assert devices[:10, 55:73].sum() >= 10  # the tube enters at the top, midline
    assert devices[20:60, 70:110].sum() >= 30  # pacemaker generator over the left upper chest
    fracture = changed({"fracture": {"side": "left", "rib": 2}})
    assert fracture.sum() >= 15 and fracture[:, : size // 2].sum() == 0
