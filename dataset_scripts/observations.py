"""The one canonical label vocabulary: the 14 CheXpert observations in their standard order."""

from __future__ import annotations

CHEXPERT_OBSERVATIONS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Lesion",
    "Lung Opacity",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

# The five observations most papers report separately (CheXpert competition tasks).
COMMON_5_OBSERVATIONS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
)

# Label values, as in CheXpert / MIMIC-CXR-JPG label tables; `None` means blank (not mentioned).
POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1
LABEL_VALUES: tuple[int | None, ...] = (POSITIVE, NEGATIVE, UNCERTAIN, None)


def empty_labels() -> dict[str, int | None]:
    """Returns a fresh label row with every observation blank."""
    return dict.fromkeys(CHEXPERT_OBSERVATIONS)


def validate_labels(labels: dict[str, int | None]) -> dict[str, int | None]:
    """Checks a label row: known observation names and values in {1, 0, -1, None}.

    Returns:
        The row completed with blanks for missing observations, in the standard order.
    """
    unknown = set(labels) - set(CHEXPERT_OBSERVATIONS)
    if unknown:
        raise ValueError(f"unknown CheXpert observation(s) {sorted(unknown)}; allowed: {list(CHEXPERT_OBSERVATIONS)}")
    row = empty_labels()
    for name, value in labels.items():
        if value is not None and value not in (POSITIVE, NEGATIVE, UNCERTAIN):
            raise ValueError(f"label {name!r}={value!r} is not one of 1, 0, -1 or None")
        row[name] = None if value is None else int(value)
    return row


__all__ = [
    "CHEXPERT_OBSERVATIONS",
    "COMMON_5_OBSERVATIONS",
    "LABEL_VALUES",
    "NEGATIVE",
    "POSITIVE",
    "UNCERTAIN",
    "empty_labels",
    "validate_labels",
]
