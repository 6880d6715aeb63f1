"""Report text and CheXpert labels for phantom radiographs: varied phrasing, negations, uncertainty.

Every sentence template carries the labels a CheXpert-style reader assigns to it (mention phrases
from the CheXpert labeller's lists: "effusion", "consolidat", "the heart", "contour", ...), so that
the 14 labels of a phantom always agree with its text. Words that trigger unrelated observations
(e.g. "line" -> Support Devices, "blunt" -> not No Finding) are kept out of unrelated sentences.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .observations import CHEXPERT_OBSERVATIONS, empty_labels

_SIDE_WORD = {"right": "right", "left": "left", "bilateral": "bilateral"}
_SIZE_WORD = {"small": ("small", "trace", "small"), "moderate": ("moderate",), "large": ("large", "large")}
_RIB_ORDINALS = ("4th", "5th", "6th", "7th", "8th", "9th")
_ZONE_NAMES = {
    ("right", "upper"): ("right upper lobe", "right apex", "right upper zone"),
    ("right", "middle"): ("right middle lobe", "right mid lung", "right perihilar region"),
    ("right", "lower"): ("right lower lobe", "right base", "right lung base"),
    ("left", "upper"): ("left upper lobe", "left apex", "left upper zone"),
    ("left", "middle"): ("lingula", "left mid lung", "left perihilar region"),
    ("left", "lower"): ("left lower lobe", "left base", "left lung base"),
}
_NORMAL_IMPRESSIONS = (
    "No acute cardiopulmonary process.",
    "No acute cardiopulmonary abnormality.",
    "Normal chest radiograph.",
    "No acute intrathoracic process.",
    "No radiographic evidence of acute cardiopulmonary disease.",
)
_PATHOLOGIES = tuple(name for name in CHEXPERT_OBSERVATIONS if name not in ("No Finding", "Support Devices"))


def _merge(labels: dict[str, int | None], new: dict[str, int]) -> None:
    """Positive beats uncertain beats negative (CheXpert's aggregation)."""
    for name, value in new.items():
        old = labels[name]
        if old is None or value == 1 or (value == -1 and old == 0):
            labels[name] = value


class _Writer:
    """Accumulates sentences and labels; randomness from the study's generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.findings: list[str] = []
        self.impression: list[str] = []
        self.labels = empty_labels()

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def say(self, text: str, section: str = "findings", **labels: int) -> None:
        text = text[0].upper() + text[1:]
        (self.findings if section == "findings" else self.impression).append(text)
        _merge(self.labels, {name.replace("_", " "): value for name, value in labels.items()})

    def chance(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)


def _labels(**kwargs: int) -> dict[str, int]:
    return {name.replace("_", " "): value for name, value in kwargs.items()}


def _zone(attrs: dict[str, Any], w: _Writer) -> str:
    return w.pick(_ZONE_NAMES[(attrs.get("side", "right"), attrs.get("zone", "lower"))])


def _devices(attrs: dict[str, Any], w: _Writer) -> None:
    for device in attrs.get("devices", ("ett",)):
        if device == "ett":
            cm = int(w.rng.integers(3, 6))
            w.say(w.pick((f"endotracheal tube terminates {cm} cm above the carina.",
                          f"the endotracheal tube tip is {cm} cm above the carina.",
                          f"ET tube in standard position, {cm} cm above the carina.")), Support_Devices=1)
        elif device == "central_line":
            w.say(w.pick(("right internal jugular central venous catheter tip projects over the SVC.",
                          "right IJ central line terminates in the lower SVC.",
                          "a right-sided central venous catheter ends at the cavoatrial junction.")),
                  Support_Devices=1)
        elif device == "pacemaker":
            w.say(w.pick(("left chest wall pacemaker with leads in the right atrium and right ventricle.",
                          "dual-lead cardiac pacemaker device is in place.",
                          "a left-sided pacer generator with leads terminating in the right heart.")),
                  Support_Devices=1)


def _heart(present: dict[str, Any], w: _Writer) -> None:
    if "cardiomegaly" in present:
        degree = present["cardiomegaly"].get("degree", "moderate")
        certain = present["cardiomegaly"].get("certainty", 1)
        if certain == -1:
            w.say(w.pick(("the heart is possibly mildly enlarged, accentuated by technique.",
                          "borderline enlargement of the cardiac silhouette, possibly cardiomegaly.")),
                  Cardiomegaly=-1)
            w.say("possible mild cardiomegaly.", "impression", Cardiomegaly=-1)
            return
        w.say(w.pick((f"the heart is {degree}ly enlarged.", f"{degree} cardiomegaly.",
                      f"there is {degree} enlargement of the cardiac silhouette.")), Cardiomegaly=1)
        if w.chance(0.35):
            w.say("the cardiomediastinal silhouette is enlarged.", Enlarged_Cardiomediastinum=1)
        w.say(w.pick(("cardiomegaly.", f"{degree} cardiomegaly.", "enlarged heart.")), "impression", Cardiomegaly=1)
        return
    options = (
        ("heart size is normal.", _labels(Cardiomegaly=0)),
        ("the heart is not enlarged.", _labels(Cardiomegaly=0)),
        ("normal heart size.", _labels(Cardiomegaly=0)),
        ("the cardiomediastinal silhouette is within normal limits.", _labels(Enlarged_Cardiomediastinum=0)),
        ("heart size and mediastinal contours are normal.", _labels(Cardiomegaly=0, Enlarged_Cardiomediastinum=0)),
    )
    text, labels = w.pick(options)
    w.say(text, **{k.replace(" ", "_"): v for k, v in labels.items()})


def _effusion(attrs: dict[str, Any], w: _Writer) -> None:
    side, size = attrs.get("side", "right"), attrs.get("size", "small")
    size_word = w.pick(_SIZE_WORD[size])
    plural = "effusions" if side == "bilateral" else "effusion"
    if attrs.get("certainty", 1) == -1:
        where = "both costophrenic angles" if side == "bilateral" else f"the {side} costophrenic angle"
        w.say(f"blunting of {where} may reflect a small pleural {plural}.", Pleural_Effusion=-1)
        w.say(f"possible small {side} pleural {plural}.", "impression", Pleural_Effusion=-1)
        return
    w.say(w.pick((f"{size_word} {side} pleural {plural}.",
                  f"there is a {size_word} {side} pleural {plural} with a meniscus.",
                  f"{size_word} {side} pleural {plural} obscuring the hemidiaphragm.")), Pleural_Effusion=1)
    w.say(w.pick((f"{size_word} {side} pleural {plural}.", f"{side} pleural {plural}.")), "impression",
          Pleural_Effusion=1)


def _pneumothorax(attrs: dict[str, Any], w: _Writer) -> None:
    side, size = attrs.get("side", "right"), attrs.get("size", "small")
    if attrs.get("certainty", 1) == -1:
        w.say(f"questionable small {side} apical pneumothorax.", Pneumothorax=-1)
        w.say(f"possible small {side} pneumothorax; consider repeat imaging.", "impression", Pneumothorax=-1)
        return
    w.say(w.pick((f"{size} {side} pneumothorax with a visible visceral pleural edge and absent lung markings "
                  "peripherally.",
                  f"there is a {size} {side} apicolateral pneumothorax.",
                  f"{size} {side} pneumothorax.")), Pneumothorax=1)
    w.say(w.pick((f"{size} {side} pneumothorax.", f"{side} pneumothorax.")), "impression", Pneumothorax=1)


def _consolidation(attrs: dict[str, Any], w: _Writer) -> None:
    zone = _zone(attrs, w)
    if attrs.get("certainty", 1) == -1:
        w.say(f"opacity in the {zone}.", Lung_Opacity=1)
        w.say("this may represent consolidation.", Consolidation=-1)
        w.say(f"{zone} opacity.", "impression", Lung_Opacity=1)
        w.say("possible consolidation.", "impression", Consolidation=-1)
        return
    w.say(w.pick((f"focal consolidation in the {zone}.", f"dense airspace consolidation in the {zone}.",
                  f"{zone} consolidation with air bronchograms.")), Consolidation=1)
    choice = int(w.rng.integers(3))
    if choice == 0:
        w.say(f"{zone} consolidation, concerning for pneumonia.", "impression", Consolidation=1, Pneumonia=-1)
    elif choice == 1:
        w.say(f"{zone} consolidation consistent with pneumonia.", "impression", Consolidation=1, Pneumonia=1)
    else:
        w.say(f"{zone} consolidation.", "impression", Consolidation=1)


def _lung_opacity(attrs: dict[str, Any], w: _Writer) -> None:
    zone = _zone(attrs, w)
    w.say(w.pick((f"patchy opacities in the {zone}.", f"ill-defined patchy opacity in the {zone}.")),
          Lung_Opacity=1)
    w.say(f"patchy {zone} opacity.", "impression", Lung_Opacity=1)


def _edema(attrs: dict[str, Any], w: _Writer) -> None:
    degree = attrs.get("degree", "mild")
    if attrs.get("certainty", 1) == -1:
        w.say("perihilar haziness may reflect mild interstitial edema.", Edema=-1)
        w.say("possible mild pulmonary edema.", "impression", Edema=-1)
        return
    text, labels = w.pick((
        (f"{degree} pulmonary edema with perihilar haziness and interlobular septal thickening.", _labels(Edema=1)),
        (f"bilateral perihilar opacities consistent with {degree} pulmonary edema.", _labels(Edema=1, Lung_Opacity=1)),
        (f"pulmonary vascular congestion with {degree} interstitial edema.", _labels(Edema=1)),
    ))
    w.say(text, **{k.replace(" ", "_"): v for k, v in labels.items()})
    w.say(w.pick((f"{degree} pulmonary edema.", "findings consistent with congestive heart failure.",
                  f"{degree} interstitial pulmonary edema.")), "impression", Edema=1)


def _atelectasis(attrs: dict[str, Any], w: _Writer) -> None:
    side = attrs.get("side", "left")
    if attrs.get("certainty", 1) == -1:
        w.say(f"linear opacity at the {side} base.", Lung_Opacity=1)
        w.say("this likely represents atelectasis.", Atelectasis=-1)
        w.say(f"{side} basilar opacity.", "impression", Lung_Opacity=1)
        w.say("likely atelectasis.", "impression", Atelectasis=-1)
        return
    w.say(w.pick((f"plate-like atelectasis at the {side} base.", f"subsegmental atelectasis in the {side} lower lobe.",
                  f"linear {side} basilar atelectasis.")), Atelectasis=1)
    w.say(w.pick((f"{side} basilar atelectasis.", f"minor {side} basilar atelectasis.")), "impression", Atelectasis=1)


def _lesion(name: str, attrs: dict[str, Any], w: _Writer) -> None:
    zone = _zone(attrs, w)
    size_cm = attrs.get("size_cm", 1.5)
    if name == "nodule":
        w.say(w.pick((f"a {size_cm:.1f} cm nodule in the {zone}.", f"{size_cm:.1f} cm rounded nodule projects over "
                      f"the {zone}.")), Lung_Lesion=1)
        w.say(f"{size_cm:.1f} cm {zone} nodule; CT recommended for further evaluation.", "impression", Lung_Lesion=1)
    else:
        w.say(w.pick((f"{size_cm:.0f} cm mass in the {zone}.", f"a large lobulated mass in the {zone}, measuring "
                      f"{size_cm:.0f} cm.")), Lung_Lesion=1)
        w.say(f"{zone} mass.", "impression", Lung_Lesion=1)


def _fracture(attrs: dict[str, Any], w: _Writer) -> None:
    side, rib = attrs.get("side", "right"), _RIB_ORDINALS[int(attrs.get("rib", 3)) % len(_RIB_ORDINALS)]
    w.say(w.pick((f"acute fracture of the {side} {rib} rib.", f"displaced {side} {rib} rib fracture.")), Fracture=1)
    w.say(f"{side} {rib} rib fracture.", "impression", Fracture=1)


def _negatives(present: dict[str, Any], w: _Writer) -> None:
    if "pleural_effusion" not in present and "pneumothorax" not in present and w.chance(0.7):
        w.say(w.pick(("no pleural effusion or pneumothorax.", "there is no pleural effusion or pneumothorax.",
                      "no effusion or pneumothorax is seen.")), Pleural_Effusion=0, Pneumothorax=0)
    else:
        if "pleural_effusion" not in present and w.chance(0.6):
            w.say(w.pick(("no pleural effusion.", "no large pleural effusion.")), Pleural_Effusion=0)
        if "pneumothorax" not in present and w.chance(0.6):
            w.say(w.pick(("no pneumothorax.", "there is no pneumothorax.")), Pneumothorax=0)
    if "consolidation" not in present and "lung_opacity" not in present and w.chance(0.5):
        w.say(w.pick(("no focal consolidation.", "there is no focal consolidation.")), Consolidation=0)
    if "edema" not in present and w.chance(0.35):
        w.say(w.pick(("no pulmonary edema.", "there is no pulmonary edema.")), Edema=0)
    if "fracture" not in present and w.chance(0.25):
        w.say(w.pick(("no displaced rib fracture.", "no acute rib fracture.")), Fracture=0)
    # A hedge about something not drawn, as radiologists write it.
    if "pleural_effusion" not in present and "pneumothorax" in present and w.chance(0.08):
        w.say("a small pleural effusion cannot be excluded.", Pleural_Effusion=-1)


def write_report(present: dict[str, dict[str, Any]], view: str, rng: np.random.Generator) -> tuple[str, str, dict]:
    """Writes findings and impression for the drawn findings and returns the matching labels.

    Args:
        present: finding name -> attributes (side, size, zone, certainty, devices, ...).
        view: "PA" or "AP".
        rng: the study's generator.

    Returns:
        `(findings, impression, labels)` with labels over the 14 CheXpert observations (1 / 0 / -1 / None).
    """
    w = _Writer(rng)
    if view == "AP" and w.chance(0.5):
        w.findings.append(w.pick(("Single portable AP view of the chest.", "Portable semi-upright AP radiograph.")))
    if "support_devices" in present:
        _devices(present["support_devices"], w)
    lung_writers = {
        "consolidation": _consolidation, "lung_opacity": _lung_opacity, "edema": _edema,
        "atelectasis": _atelectasis, "pleural_effusion": _effusion, "pneumothorax": _pneumothorax,
    }
    positives = [name for name in lung_writers if name in present]
    order = rng.permutation(len(positives))
    for index in order:
        lung_writers[positives[index]](present[positives[index]], w)
    for name in ("nodule", "mass"):
        if name in present:
            _lesion(name, present[name], w)
    if not positives and not any(n in present for n in ("nodule", "mass")):
        w.say(w.pick(("the lungs are clear.", "lungs are well expanded and clear.", "clear lungs bilaterally.")))
    _negatives(present, w)
    _heart(present, w)
    if "fracture" in present:
        _fracture(present["fracture"], w)
    elif w.chance(0.3):
        w.say(w.pick(("no acute osseous abnormality.", "osseous structures are unremarkable.")))
    if not any(w.labels[name] in (1, -1) for name in _PATHOLOGIES):
        w.labels["No Finding"] = 1
        if "support_devices" in present:
            w.impression.insert(0, w.pick(("Support devices as described.", "Devices in standard position.")))
        w.impression.append(w.pick(_NORMAL_IMPRESSIONS))
    return " ".join(w.findings), " ".join(w.impression), w.labels


__all__ = ["write_report"]
