"""AQAA: clean phantoms pass, each degradation kind is flagged under the right criterion, errors become records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from lrrg.dataset_scripts.aqaa import CRITERIA, QualityAgent, QualityReport, fit_calibration, load_calibration
from lrrg.dataset_scripts.degradations import DEGRADATION_KINDS, KIND_TO_CRITERION, degrade
from lrrg.dataset_scripts.phantoms import generate_phantom

# Kinds whose measurement separates degraded from clean images but does not yet reach the flag threshold
# reliably at severity 3 (see docs/quality.md "Known limits"): asserted against the clean 95th percentile.
WEAKER_AT_3 = {"cutoff", "motion_blur", "underexposure", "grid_lines"}


@pytest.fixture(scope="module")
def agent() -> QualityAgent:
    return QualityAgent()


@pytest.fixture(scope="module")
def phantoms() -> list[Image.Image]:
    # Seeds far from the calibration set; sizes and bit depths as the calibration covers them.
    return [generate_phantom(90_000 + i, size=(256, 512)[i % 2], bit_depth=(8, 16)[i // 2 % 2]).image
            for i in range(4)]


def test_clean_phantoms_are_high_quality(agent):
    reports = [agent.assess(generate_phantom(70_000 + i, size=256).image) for i in range(16)]
    flagged = [r.flagged_criteria for r in reports if r.label == "low"]
    assert len(flagged) <= 1, flagged
    assert all(0.0 <= r.score <= 1.0 and r.error is None for r in reports)


@pytest.mark.parametrize("kind", DEGRADATION_KINDS)
def test_each_kind_flagged_with_its_criterion(agent, phantoms, kind):
    expected = KIND_TO_CRITERION[kind]
    p95 = agent.calibration["criteria"][expected]["p95"]
    hits = 0
    for index, image in enumerate(phantoms):
        report = agent.assess(degrade(image, kind, 3, seed=index))
        assert report.label in ("high", "low")
        if kind in WEAKER_AT_3:
            hits += report.flags[expected]["value"] > p95
        else:
            hits += report.label == "low" and expected in report.flagged_criteria
    assert hits >= 3, f"{kind} s3: {expected} detected in {hits}/4 phantoms"


def test_report_structure_and_reasons(agent, phantoms):
    report = agent.assess(degrade(phantoms[0], "gaussian_noise", 5, seed=0))
    record = report.to_dict()
    assert record["quality_label"] == "low" and 0.0 <= record["quality_score"] < 0.5
    assert set(record["flags"]) == set(CRITERIA)
    assert set(record["flags"]["noise"]) == {"flagged", "value", "threshold"}
    assert record["flags"]["noise"]["flagged"] and record["error"] is None
    assert any("noise" in reason and "threshold" in reason for reason in record["reasons"])
    json.dumps(record)
    assert report.top_criterion == "noise"


def test_formats_and_sizes(agent, phantoms):
    base = phantoms[0]
    for image in (base.convert("RGB"), np.asarray(base), base.resize((1400, 1400)), base.resize((96, 80))):
        report = agent.assess(image)
        assert report.error is None and report.label in ("high", "low")


def test_bad_files_become_error_records(agent, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image")
    good = tmp_path / "good.png"
    generate_phantom(1, size=128).image.save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    jpeg = tmp_path / "trunc.jpg"
    generate_phantom(1, size=128).image.save(jpeg, quality=90)
    jpeg.write_bytes(jpeg.read_bytes()[:300])
    paths = [tmp_path / n for n in ("empty.png", "notes.png", "truncated.png", "trunc.jpg", "missing.png")]
    for path in paths:
        report = agent.assess(path)
        assert report.error and report.label is None and str(path) in report.error, report
    ok = agent.assess(good)
    assert ok.error is None and ok.path == str(good)


def test_decompression_bomb_guard(tmp_path):
    from lrrg.dataset_scripts.image_io import ImageLoadError, open_image

    path = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(path)
    with pytest.raises(ImageLoadError, match="decompression-bomb"):
        open_image(path, max_pixels=1_000_000)


def test_assess_many_parallel_matches_serial(agent, tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"p{i}.png"
        image = generate_phantom(i, size=128).image
        (degrade(image, "jpeg", 5, i) if i % 2 else image).save(path)
        paths.append(str(path))
    paths.append(str(tmp_path / "missing.png"))
    serial = agent.assess_many(paths, num_proc=1, progress=False)
    parallel = agent.assess_many(paths, num_proc=2, progress=False, chunksize=2)
    assert [r.to_dict() for r in serial] == [r.to_dict() for r in parallel]
    assert serial[-1].error and serial[1].label == "low"


def test_fit_and_calibration_roundtrip(tmp_path):
    agent = QualityAgent()
    out = tmp_path / "cal.json"
    images = [generate_phantom(500 + i, size=128).image for i in range(6)]
    calibration = agent.fit(images, out=out, description="test")
    assert calibration["num_images"] == 6 and set(calibration["criteria"]) == set(CRITERIA)
    for entry in calibration["criteria"].values():
        assert entry["threshold"] > entry["median"]
    loaded = QualityAgent.from_calibration(out)
    assert loaded.calibration["criteria"] == json.loads(out.read_text())["criteria"]
    assert QualityAgent(calibration=calibration).assess(images[0]).label in ("high", "low")
    with pytest.raises(ValueError, match="at least 5"):
        fit_calibration([{c: 0.0 for c in CRITERIA}] * 3)
    with pytest.raises(ValueError, match="lacks criteria"):
        load_calibration({"criteria": {"noise": {"median": 0, "scale": 1, "threshold": 1}}})
    with pytest.raises(FileNotFoundError):
        QualityAgent(calibration=tmp_path / "nope.json")


def test_report_defaults():
    report = QualityReport(path="x", error="boom")
    assert report.to_dict()["quality_label"] is None and report.flagged_criteria == ()


def _load_small(path, limit=768):
    from lrrg.dataset_scripts.image_io import open_image

    image = open_image(path)
    if max(image.size) > limit:  # keeps the test fast; degradations scale with the image size
        image.thumbnail((limit, limit))
    return image


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_radiographs(shared_data):
    """Real films: calibrate on 24 clean films (the reference-set workflow), then check 6 other films degraded
    with every kind at severity 4: the kind's criterion is flagged in at least 5 of them."""
    paths = sorted((shared_data / "cxr_images" / "images").glob("*"))
    assert len(paths) > 40, "expected the shared real radiographs"
    reference, held_out = paths[1::3][:24], paths[0::3][::6][:6]
    agent = QualityAgent()
    agent.fit([_load_small(p) for p in reference], description="test reference films")
    images = [_load_small(p) for p in held_out]
    missed = {}
    for kind in DEGRADATION_KINDS:
        if kind == "cutoff":  # not reliable on tightly cropped journal figures (docs/quality.md)
            continue
        # Many journal figures are themselves upscaled, so upscaling may read as blur rather than resolution.
        accepted = {KIND_TO_CRITERION[kind], "blur"} if kind == "low_resolution" else {KIND_TO_CRITERION[kind]}
        hits = sum(bool(accepted & set(agent.assess(degrade(im, kind, 4, seed=i)).flagged_criteria))
                   for i, im in enumerate(images))
        if hits < len(images) - 1:
            missed[kind] = hits
    assert not missed, f"criterion missed on real radiographs (hits of {len(images)}): {missed}"


def test_cli_assess_writes_records(tmp_path, capsys):
    from lrrg.cli import main

    generate_phantom(1, size=128).image.save(tmp_path / "a.png")
    degrade(generate_phantom(2, size=128).image, "jpeg", 5, 0).save(tmp_path / "b.png")
    (tmp_path / "c.png").write_text("not an image")
    out = tmp_path / "out.jsonl"
    assert main(["assess", str(tmp_path / "*.png"), "--out", str(out), "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"].rsplit("/", 1)[-1] for r in records] == ["a.png", "b.png", "c.png"]
    assert records[1]["quality_label"] == "low" and records[2]["error"]
    assert {"path", "quality_label", "quality_score", "flags", "reasons", "error"} <= set(records[0])
    assert "AQAA summary" in capsys.readouterr().out
    csv_out = tmp_path / "out.csv"
    assert main(["assess", str(tmp_path), "--out", str(csv_out), "--num-proc", "2", "--no-progress"]) == 0
    assert csv_out.read_text().count("\n") == 4


def test_small_clean_phantoms_are_not_flagged_for_motion(agent):
    """Below the 256 px design size the spectral bands see anatomy at other scales: clean 96-192 px
    phantoms must not read as motion blur."""
    reports = [agent.assess(generate_phantom(71_000 + i, size=(96, 128, 160, 192)[i % 4]).image) for i in range(24)]
    flagged = [r.flagged_criteria for r in reports if r.label == "low"]
    assert len(flagged) <= 2, flagged


def test_tiny_and_non_finite_inputs_give_clear_error_records(agent, tmp_path):
    path = tmp_path / "thumb.png"
    Image.new("L", (300, 8), 100).save(path)
    report = agent.assess(path)
    assert report.label is None and str(path) in report.error and "too small" in report.error
    nan = agent.assess(np.full((64, 64), np.nan, np.float32))
    assert nan.label is None and "NaN" in nan.error


def test_truncated_header_error_names_the_fix(agent, tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    report = agent.assess(path)
    assert str(path) in report.error and "re-export or re-download" in report.error


def test_cli_assess_errors_name_the_input_and_the_fix(tmp_path, capsys):
    from lrrg.cli import main

    for i in range(6):
        generate_phantom(600 + i, size=128).image.save(tmp_path / f"ref{i}.png")
    (tmp_path / "notes.png").write_text("not an image")
    calibration = tmp_path / "site.json"
    # --fit skips unreadable references with a warning naming them, and fits on the rest.
    assert main(["assess", str(tmp_path / "*.png"), "--fit", str(calibration), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "notes.png" in out and "skipped" in out and json.loads(calibration.read_text())["num_images"] == 6
    assert main(["assess", str(tmp_path / "ref0.png"), "--calibration", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().out
    assert main(["assess", str(tmp_path / "nothing" / "*.png")]) == 2
    assert "quote" in capsys.readouterr().out
