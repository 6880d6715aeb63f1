"""Degradation simulator: every kind keeps type / shape / mode, is seeded, changes the image, composes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lrrg.dataset_scripts.degradations import (
    DEGRADATION_KINDS,
    KIND_TO_CRITERION,
    Degradation,
    compose,
    degrade,
    sample_degradation,
)
from lrrg.dataset_scripts.phantoms import generate_phantom


@pytest.fixture(scope="module")
def phantom() -> Image.Image:
    return generate_phantom(4, size=96).image


def _inputs(phantom: Image.Image):
    gray = np.asarray(phantom)
    return {
        "L": phantom,
        "I;16": Image.fromarray(gray.astype(np.uint16) * 257),
        "RGB": phantom.convert("RGB"),
        "RGBA": phantom.convert("RGBA"),
        "uint8": gray,
        "uint16": gray.astype(np.uint16) * 257,
        "float32": gray.astype(np.float32) / 255.0,
        "rgb-uint8": np.stack([gray] * 3, axis=2),
    }


def _array(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


@pytest.mark.parametrize("kind", DEGRADATION_KINDS)
def test_keeps_type_and_is_deterministic(kind, phantom):
    for name, image in _inputs(phantom).items():
        out = degrade(image, kind, 3, seed=5)
        if isinstance(image, Image.Image):
            assert isinstance(out, Image.Image) and out.mode == image.mode and out.size == image.size, name
        else:
            assert isinstance(out, np.ndarray) and out.dtype == image.dtype and out.shape == image.shape, name
        again = degrade(image, kind, 3, seed=5)
        assert np.array_equal(_array(out), _array(again)), f"{kind} on {name} is not deterministic"
        assert not np.array_equal(_array(out), _array(image)), f"{kind} on {name} changed nothing"


@pytest.mark.parametrize("kind", ["quantum_noise", "gaussian_noise", "motion_blur", "rotation", "burned_in_text"])
def test_seed_changes_random_kinds(kind, phantom):
    assert not np.array_equal(_array(degrade(phantom, kind, 3, 1)), _array(degrade(phantom, kind, 3, 2)))


def test_severity_orders_the_damage(phantom):
    clean = _array(phantom)
    for kind in ("gaussian_noise", "defocus_blur", "low_contrast", "jpeg", "overexposure"):
        errors = [np.abs(_array(degrade(phantom, kind, s, 0)) - clean).mean() for s in (1, 3, 5)]
        assert errors[0] < errors[1] < errors[2], (kind, errors)


def test_global_seed_untouched(phantom):
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    degrade(phantom, "gaussian_noise", 2, seed=0)
    assert np.random.random() == expected


def test_sixteen_bit_keeps_precision(phantom):
    image16 = Image.fromarray((np.asarray(phantom).astype(np.uint16) * 257) + 7)
    out = np.asarray(degrade(image16, "low_contrast", 1, 0))
    assert len(np.unique(out % 257)) > 10  # values between the 8-bit steps exist


def test_compose_and_sample(phantom):
    chain = compose([("motion_blur", 2), {"kind": "jpeg", "severity": 4}, Degradation("rotation", 1)])
    out = chain(phantom, seed=3)
    assert out.mode == "L" and np.array_equal(_array(out), _array(chain(phantom, seed=3)))
    assert "jpeg" in repr(chain)
    draw = sample_degradation(9, kinds=("jpeg", "cutoff"), severities=(2,))
    assert draw.kind in ("jpeg", "cutoff") and draw.severity == 2


def test_mapping_and_errors(phantom):
    from lrrg.dataset_scripts.aqaa import CRITERIA

    assert set(KIND_TO_CRITERION) == set(DEGRADATION_KINDS)
    assert set(KIND_TO_CRITERION.values()) <= set(CRITERIA)
    with pytest.raises(ValueError, match="unknown degradation kind"):
        degrade(phantom, "sepia", 2, 0)
    for bad in (0, 6, 2.5, True):
        with pytest.raises(ValueError, match="severity"):
            degrade(phantom, "jpeg", bad, 0)


@pytest.mark.parametrize("mode", ["LA", "P", "1", "I", "F"])
def test_other_pil_modes_keep_their_mode(phantom, mode):
    image = phantom.convert(mode)
    for kind in DEGRADATION_KINDS:
        out = degrade(image, kind, 3, seed=1)
        assert out.mode == mode and out.size == image.size, (kind, out.mode)


def test_compose_accepts_a_generator(phantom):
    chain = compose([("gaussian_noise", 2), ("jpeg", 3)])
    first = chain(phantom, seed=np.random.default_rng(4))
    assert np.array_equal(_array(first), _array(chain(phantom, seed=np.random.default_rng(4))))
    assert not np.array_equal(_array(first), _array(chain(phantom, seed=np.random.default_rng(5))))
