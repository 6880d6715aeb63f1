"""Tests of the Space's building blocks: create_demo, inference per input mode, bad input, model discovery."""

from __future__ import annotations

import json
import subprocess
import sys

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from lrrg.dataset_scripts import QualityAgent, generate_phantom
from lrrg.modeling_lrrg.presets import build_model_and_processor
from lrrg.space_app.app import RESEARCH_NOTICE, create_demo
from lrrg.space_app.examples import phantom_examples, real_examples
from lrrg.space_app.inference import SpaceEngine
from lrrg.space_app.localization import LOCALISERS, localise
from lrrg.space_app.model_loading import (
    NO_MODEL_MESSAGE,
    ReportGenerator,
    find_newest_model,
    load_report_generator,
    resolve_model_source,
)
from lrrg.space_app.settings import AppSettings


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Several engineers share 2 cores: OpenMP threads spinning against each other make generate 10x slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def generator():
    model, processor = build_model_and_processor("tiny", seed=0)
    return ReportGenerator(model, processor, name="tiny-random", max_new_tokens=8)


@pytest.fixture(scope="module")
def agent():
    return QualityAgent()


@pytest.fixture(scope="module")
def engine(agent, generator):
    return SpaceEngine(agent, generator, AppSettings())


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(3, findings=[], size=256, view="PA")


def _save_dicom(path, array):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    dataset.set_pixel_data(array, "MONOCHROME2", 12)
    dataset.save_as(path, enforce_file_format=True)


def _inputs(kind, phantom, tmp_path):
    """The same radiograph in each input mode the Space accepts."""
    gray8 = phantom.image
    array8 = np.asarray(gray8)
    array16 = (array8.astype(np.uint16) * 16)  # 12-bit data in a 16-bit container
    if kind == "pil_8bit":
        return gray8
    if kind == "pil_16bit":
        return Image.fromarray(array16)
    if kind == "pil_rgb":
        return gray8.convert("RGB")
    if kind == "numpy_uint8":
        return array8
    if kind == "numpy_float":
        return array8.astype(np.float32) / 255.0
    path = tmp_path / {"path_png16": "chest16.png", "path_jpeg": "chest.jpg", "path_dicom": "chest.dcm"}[kind]
    if kind == "path_png16":
        Image.fromarray(array16).save(path)
    elif kind == "path_jpeg":
        gray8.save(path, quality=95)
    else:
        pytest.importorskip("pydicom", reason="DICOM input needs pydicom (the [dicom] / [dev] extras)")
        _save_dicom(path, array16)
    return str(path)


INPUT_MODES = ["pil_8bit", "pil_16bit", "pil_rgb", "numpy_uint8", "numpy_float", "path_png16", "path_jpeg",
               "path_dicom"]


def test_create_demo_builds_with_a_tiny_model(generator, agent):
    settings = AppSettings(queue_size=7, concurrency=1)
    demo = create_demo(generator, agent, settings)
    assert isinstance(demo, gr.Blocks)
    endpoints = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"analyze", "stress"} <= endpoints
    assert demo._queue.max_size == 7 and demo._queue.default_concurrency_limit == 1
    config = json.dumps(demo.get_config_file())
    assert "Research use only" in config and "tiny-random" in config


@pytest.mark.parametrize("mode", INPUT_MODES)
def test_analyze_returns_the_right_types_for_each_input_mode(engine, phantom, tmp_path, mode):
    upload = _inputs(mode, phantom, tmp_path)
    preview, verdict, table, where, findings, impression, info, quality = engine.analyze(upload)
    assert isinstance(preview, Image.Image) and preview.mode in ("L", "RGB")
    assert max(preview.size) <= 768
    assert verdict.startswith("### Quality: **") and ("HIGH" in verdict or "LOW" in verdict)
    rows = table.splitlines()[2:]
    assert len(rows) == 12 and all(row.count("|") == 6 for row in rows)
    flagged_rows = [row for row in rows if row.startswith("| **")]
    assert len(flagged_rows) == len(quality["flagged_criteria"])
    assert isinstance(where, list) and all(isinstance(p, Image.Image) and isinstance(c, str) for p, c in where)
    assert isinstance(findings, str) and isinstance(impression, str)
    assert "tiny-random" in info and "Generated in" in info
    assert quality["quality_label"] in ("high", "low") and 0.0 <= quality["quality_score"] <= 1.0


def test_16bit_preview_is_windowed_not_black(engine):
    dim = (np.asarray(generate_phantom(5, size=128).image).astype(np.uint16) * 4)  # 10-bit data in 16 bits
    preview = engine.analyze(Image.fromarray(dim))[0]
    assert np.asarray(preview).max() >= 250


def _png_bytes(size=(128, 128)):
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("nothing", "No image yet"),
        ("empty", "is empty (0 bytes)"),
        ("text", "is not an image the app can read"),
        ("truncated", "truncated or corrupt"),
        ("tiny", "too small to assess"),
        ("too_many_pixels", "decompression-bomb guard"),
        ("too_many_bytes", "over the upload limit"),
        ("two_files", "one image at a time"),
        ("bad_dicom", "could not be read as DICOM"),
    ],
)
def test_bad_input_raises_a_sentence(agent, generator, tmp_path, case, expected):
    settings = AppSettings(max_pixels=100_000, max_upload_mb=0.05)
    engine = SpaceEngine(agent, generator, settings)
    path = tmp_path / "upload.png"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("FINDINGS: not an image at all")
    elif case == "truncated":
        path.write_bytes(_png_bytes()[:4000])
    elif case == "tiny":
        Image.fromarray(np.zeros((20, 30), np.uint8)).save(path)
    elif case == "too_many_pixels":
        Image.fromarray(np.zeros((400, 400), np.uint8)).save(path)
    elif case == "too_many_bytes":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)).save(path)
    elif case == "bad_dicom":
        path = tmp_path / "scan.dcm"
        path.write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    upload = {"nothing": None, "two_files": [str(path), str(path)]}.get(case, str(path))
    with pytest.raises(gr.Error) as raised:
        engine.analyze(upload)
    message = str(raised.value.message)
    assert expected in message
    assert message[0].isupper() and message.rstrip().endswith(".") and "Traceback" not in message
    assert str(tmp_path) not in message  # the person sees the file name, not the server's temp path


def test_a_real_decompression_bomb_is_refused_with_a_sentence(engine, tmp_path):
    # 200 Mpx of one colour in a few kB: over Pillow's own hard limit, which raises before our guard can measure
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 10_000)).save(bomb)
    with pytest.raises(gr.Error, match="decompression-bomb guard") as raised:
        engine.analyze(str(bomb))
    assert "200,000,000 pixels" in raised.value.message and str(tmp_path) not in raised.value.message


def test_dicom_over_the_pixel_limit_is_refused_before_decoding(agent, generator, tmp_path, monkeypatch):
    pydicom = pytest.importorskip("pydicom", reason="DICOM input needs pydicom (the [dicom] / [dev] extras)")
    path = tmp_path / "big.dcm"
    _save_dicom(path, np.zeros((400, 400), np.uint16))
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array",
                        property(lambda self: pytest.fail("the pixel data was decoded")))
    with pytest.raises(gr.Error, match="decompression-bomb guard"):
        SpaceEngine(agent, generator, AppSettings(max_pixels=100_000)).analyze(str(path))


def test_report_length_cap_beyond_the_language_models_positions_is_lowered(agent, phantom):
    model, processor = build_model_and_processor("tiny", seed=0)
    positions = model.config.text_config.max_position_embeddings
    generator = ReportGenerator(model, processor, name="tiny-random", max_new_tokens=positions + 50)
    prompt = processor(images=[phantom.image])["input_ids"].shape[1]
    asked = []
    original = model.generate
    model.generate = lambda **kwargs: asked.append(kwargs["max_new_tokens"]) or original(**kwargs)
    assert isinstance(generator.generate(phantom.image).text, str)  # no index error past the last position
    assert asked == [positions - prompt]


def test_colour_photo_warns_and_is_still_assessed(engine):
    rng = np.random.default_rng(0)
    photo = np.zeros((160, 160, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 200, 90, rng.integers(0, 60, (160, 160))
    with pytest.warns(UserWarning, match="probably a photograph"):
        outputs = engine.analyze(photo)
    assert "probably a photograph" in outputs[1]
    assert outputs[7]["quality_label"] in ("high", "low")


def test_stress_test_degrades_the_verdict(engine, phantom):
    outputs = engine.stress(phantom.image, "gaussian_noise", 5)
    original, degraded, verdict_before, verdict_after, report_before, report_after, where, summary = outputs
    assert isinstance(original, Image.Image) and isinstance(degraded, Image.Image)
    assert not np.array_equal(np.asarray(original), np.asarray(degraded))
    assert summary["degraded"]["quality"]["quality_label"] == "low"
    assert "noise" in summary["degraded"]["quality"]["flagged_criteria"]
    assert "LOW" in verdict_after and "FINDINGS" in report_after and "tiny-random" in report_before
    assert any(caption.startswith("noise") for _, caption in where)


@pytest.mark.parametrize(("kind", "severity", "expected"), [("sepia", 3, "Unknown degradation"),
                                                            ("jpeg", 9, "whole number from 1"),
                                                            ("jpeg", 2.5, "whole number from 1")])
def test_stress_test_rejects_bad_settings(engine, phantom, kind, severity, expected):
    with pytest.raises(gr.Error, match=expected):
        engine.stress(phantom.image, kind, severity)


def test_without_a_model_quality_works_and_the_report_panel_names_the_command(agent, phantom):
    engine = SpaceEngine(agent, None, AppSettings())
    _, verdict, table, _, findings, impression, info, quality = engine.analyze(phantom.image)
    assert "Quality:" in verdict and len(table.splitlines()) == 14 and quality["quality_label"] in ("high", "low")
    assert findings == impression == ""
    assert "lrrg benchmark" in info and "bash scripts/main.sh" in info
    demo = create_demo(None, agent, AppSettings())
    assert "lrrg benchmark" in json.dumps(demo.get_config_file())


def test_build_demo_starts_with_no_model_anywhere(tmp_path, monkeypatch):
    from lrrg.space_app.app import build_demo

    monkeypatch.setenv("LRRG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LRRG_MODEL", raising=False)
    demo = build_demo(AppSettings(runs_dir=str(tmp_path / "runs"), num_examples=0))
    page = json.dumps(demo.get_config_file())
    assert "lrrg benchmark" in page and "none loaded" in page and "phantom: normal study" in page


def test_localise_draws_flagged_criteria_worst_first(phantom):
    flags = {name: {"flagged": False, "value": 0.0, "threshold": 1.0} for name in LOCALISERS}
    assert localise(phantom.image, flags) == []
    flags["noise"] = {"flagged": True, "value": 3.0, "threshold": 1.0}
    flags["field_of_view"] = {"flagged": True, "value": 1.5, "threshold": 1.0}
    pictures = localise(phantom.image, flags)
    assert [caption.split(":")[0] for _, caption in pictures] == ["noise", "field of view"]
    assert all(picture.mode == "RGB" and min(picture.size) >= 64 for picture, _ in pictures)
    # every localiser draws something for every image kind it may meet
    wide = phantom.image.crop((0, 0, 256, 200)).resize((300, 180))
    for image in (phantom.image, Image.fromarray(np.asarray(phantom.image).astype(np.uint16) * 200),
                  phantom.image.convert("RGB"), wide):
        for maker, _ in LOCALISERS.values():
            assert maker(image).mode == "RGB"


def test_blockiness_map_finds_the_jpeg_blocks_where_they_are():
    from lrrg.space_app.localization import blockiness_map

    rng = np.random.default_rng(0)
    smooth = np.tile(np.linspace(60, 190, 320, dtype=np.float32), (200, 1)) + rng.normal(0, 2, (200, 320))
    blocky = smooth.copy()
    blocky[:, :160] = np.repeat(np.repeat(smooth[::8, :160:8], 8, axis=0), 8, axis=1)  # left half: flat 8x8 blocks
    heat = np.asarray(blockiness_map(Image.fromarray(np.clip(blocky, 0, 255).astype(np.uint8))), dtype=np.float32)
    hot = heat[..., 1]  # the heat ramp's green channel rises only in its upper two thirds
    assert hot[:, 20:140].mean() > hot[:, 180:300].mean() + 20


def _save_tiny(folder):
    model, processor = build_model_and_processor("tiny", seed=1)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def test_newest_model_under_runs_is_found_and_loaded(tmp_path):
    runs = tmp_path / "runs"
    assert find_newest_model(runs) is None and resolve_model_source(None, runs) is None
    older = runs / "first" / "models" / "erm-seed0"
    _save_tiny(older)
    newer = runs / "second" / "models" / "dual_loop-seed1"
    newer.mkdir(parents=True)
    (newer / "config.json").write_text(json.dumps({"model_type": "lrrg"}))
    decoy = runs / "second" / "tokenizer-only"
    decoy.mkdir(parents=True)
    (decoy / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    assert find_newest_model(runs) == newer
    assert resolve_model_source("user/model", runs) == "user/model"
    (older / "README.md").write_text("---\ndatasets:\n- lrrg/lrrg-benchmark\n---\n# model card\n")
    generator = load_report_generator(str(older), runs_dir=runs, max_new_tokens=4)
    assert generator.name == "first/erm-seed0" and generator.hub_id is None and generator.card_url is None
    assert generator.datasets == ["lrrg/lrrg-benchmark"]
    page = json.dumps(create_demo(generator, object(), AppSettings()).get_config_file())
    assert "https://huggingface.co/datasets/lrrg/lrrg-benchmark" in page
    assert isinstance(generator.generate(generate_phantom(0, size=128).image).text, str)


def test_missing_model_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="lrrg benchmark"):
        load_report_generator(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="Cannot load an LRRG model"):
        load_report_generator(str(empty))


def test_on_a_space_the_card_model_is_the_default(monkeypatch, tmp_path):
    from pathlib import Path

    from lrrg.space_app.model_loading import space_default_model

    card = Path(__file__).resolve().parent.parent / "space_app" / "README.md"
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("LRRG_MODEL", raising=False)
    assert space_default_model(card) is None  # locally: the newest model under runs/
    monkeypatch.setenv("SPACE_ID", "lrrg/demo")
    assert space_default_model(card) == "lrrg/lrrg-tiny-phantoms"
    monkeypatch.setenv("LRRG_MODEL", "me/my-model")
    assert space_default_model(card) is None  # $LRRG_MODEL wins (AppSettings.from_env reads it)


def test_space_card_front_matter_deploys_as_is():
    from pathlib import Path

    from huggingface_hub import metadata_load

    folder = Path(__file__).resolve().parent.parent / "space_app"
    meta = metadata_load(folder / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (folder / meta["app_file"]).is_file()
    assert meta["models"] and meta["datasets"]
    assert "Research use only" in (folder / "README.md").read_text()
    assert any(line.startswith("lrrg") for line in (folder / "requirements.txt").read_text().splitlines())
    source = (folder / "app.py").read_text()
    assert source.count(".launch(") == 1 and 'if __name__ == "__main__":' in source
    assert source.index(".launch(") < source.index('if __name__ == "__main__":')  # only main() launches
    assert "from ." not in source  # runs as a plain script on a Space: absolute imports only


def test_settings_from_env_and_overrides():
    settings = AppSettings.from_env({"LRRG_MAX_UPLOAD_MB": "2.5", "LRRG_CONCURRENCY": "3"}, concurrency=4)
    assert settings.max_upload_mb == 2.5 and settings.concurrency == 4
    assert settings.max_upload_bytes == int(2.5 * 2**20)
    with pytest.raises(ValueError, match="LRRG_QUEUE_SIZE"):
        AppSettings.from_env({"LRRG_QUEUE_SIZE": "many"})
    with pytest.raises(ValueError, match="concurrency"):
        AppSettings(concurrency=0)


def test_examples_phantoms_always_real_films_when_present(tmp_path):
    phantoms = phantom_examples(tmp_path / "cache", size=128)
    assert len(phantoms) == 4 and all(Image.open(e.path).size == (128, 128) for e in phantoms)
    assert Image.open(phantoms[2].path).mode.startswith("I")  # the 16-bit example stays 16-bit
    assert real_examples(tmp_path / "cache", 3, shared_images=tmp_path / "absent") == []
    shared = tmp_path / "shared" / "cxr_images" / "images"
    shared.mkdir(parents=True)
    for name in ("b.png", "a.jpg", "16747_3_1.jpg", "notes.txt"):
        (shared / name).write_bytes(b"x")
    (shared.parent / "metadata.csv").write_text("filename,license\n16747_3_1.jpg,CC BY 4.0\n")
    real = real_examples(tmp_path / "cache", 2, shared_images=shared)
    assert [e.label for e in real] == ["real: 16747_3_1.jpg (CC BY 4.0)", "real: a.jpg (see metadata.csv)"]
    assert all(str(tmp_path / "cache") in e.path for e in real)


def test_lrrg_app_command_is_light_and_reports_a_bad_model(capsys, tmp_path):
    code = "import sys, lrrg.cli; lrrg.cli.build_parser(); print('gradio' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
    from lrrg.cli import main

    assert main(["app", "--model", str(tmp_path / "missing-model")]) == 2
    assert "lrrg benchmark" in capsys.readouterr().err


def test_research_notice_is_explicit():
    assert "not a medical device" in RESEARCH_NOTICE and "not be used for diagnosis" in RESEARCH_NOTICE
    assert "lrrg benchmark" in NO_MODEL_MESSAGE and "bash scripts/main.sh" in NO_MODEL_MESSAGE
