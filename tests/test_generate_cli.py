"""Tests of `lrrg generate` on a tiny saved model: text / JSON output, bad files, missing model, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import GPT2Config, ViTConfig

from lrrg.cli import main
from lrrg.modeling_lrrg import (
    LrrgConfig,
    LrrgForConditionalGeneration,
    LrrgImageProcessor,
    LrrgProcessor,
    format_report,
    train_report_tokenizer,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tokenizer = train_report_tokenizer([format_report("Heart normal.", "No acute disease.")] * 5, vocab_size=300)
    vision = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       image_size=32, patch_size=8)
    text = GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=len(tokenizer), n_positions=128,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    model = LrrgForConditionalGeneration(LrrgConfig(vision, text, num_image_tokens=4, image_token_id=4,
                                                    report_token_id=5))
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    LrrgProcessor(LrrgImageProcessor(size=32), tokenizer, num_image_tokens=4).save_pretrained(folder)
    return folder


@pytest.fixture()
def image_files(tmp_path):
    good8 = tmp_path / "chest8.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 40), dtype=np.uint8)).save(good8)
    good16 = tmp_path / "chest16.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 4095, (50, 40)).astype(np.uint16)).save(good16)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    return [str(good8), str(corrupt), str(good16)]


def test_generate_json_keeps_going_after_a_bad_file(model_dir, image_files, tmp_path, capsys):
    out = tmp_path / "reports.json"
    code = main(["generate", *image_files, "--model", str(model_dir), "--json", "--out", str(out),
                 "--max-new-tokens", "6", "--batch-size", "1"])
    assert code == 1  # one image failed
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert [r["image"] for r in printed] == image_files
    assert printed[1]["error"] and "corrupt.png" in printed[1]["error"] and printed[1]["report"] is None
    for record in (printed[0], printed[2]):
        assert record["error"] is None and isinstance(record["report"], str)
        assert isinstance(record["findings"], str) and isinstance(record["impression"], str)


def test_generate_text_output_and_beams(model_dir, image_files, capsys):
    code = main(["generate", image_files[0], image_files[2], "--model", str(model_dir), "--num-beams", "2",
                 "--max-new-tokens", "4"])
    assert code == 0
    text = capsys.readouterr().out
    assert text.count("FINDINGS:") == 2 and text.count("IMPRESSION:") == 2 and image_files[0] in text


def test_missing_model_gives_clear_message(tmp_path, image_files, capsys):
    code = main(["generate", image_files[0], "--model", str(tmp_path / "no-such-model")])
    assert code == 2
    assert "Model folder not found" in capsys.readouterr().err


def test_bad_arguments_are_rejected(model_dir, image_files, capsys):
    assert main(["generate", image_files[0], "--model", str(model_dir), "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err


def test_command_module_imports_are_light():
    code = "import sys, lrrg.commands.generate; print('torch' in sys.modules, 'transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_unreadable_inputs_get_a_sentence_naming_the_file(model_dir, image_files, tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("FINDINGS: not an image")
    tiny = tmp_path / "line.png"
    Image.fromarray(np.zeros((1, 40), np.uint8)).save(tiny)
    missing = tmp_path / "missing.png"
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(Path(image_files[0]).read_bytes()[:1500])
    inputs = [str(missing), str(empty), str(text), str(tiny), str(tmp_path), str(truncated), image_files[0]]
    code = main(["generate", *inputs, "--model", str(model_dir), "--json", "--max-new-tokens", "3"])
    assert code == 1
    records = json.loads(capsys.readouterr().out)
    errors = [record["error"] for record in records]
    expected = ["no such file", "zero-byte file", "not a readable image", "too small", "is a directory",
                "truncated or corrupt"]
    for path, error, words in zip(inputs, errors, expected):
        assert path in error and words in error, (path, error)
        assert "Image 0 of the batch" not in error and "Errno" not in error
    assert errors[-1] is None and isinstance(records[-1]["report"], str)  # the run went on


def test_decompression_bomb_is_refused_unread(model_dir, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 8000)).save(bomb)  # 72 Mpx of one colour: a few kB on disk
    code = main(["generate", str(bomb), "--model", str(model_dir), "--json"])
    assert code == 1
    error = json.loads(capsys.readouterr().out)[0]["error"]
    assert "bomb.png" in error and "decompression-bomb guard" in error


def test_hub_ids_and_folders_without_a_model_give_clear_errors(tmp_path, image_files, capsys):
    # a Hub id is tried as one (offline here), not refused as a missing folder
    assert main(["generate", image_files[0], "--model", "someone/lrrg-model"]) == 2
    err = capsys.readouterr().err
    assert "Model folder not found" not in err and "someone/lrrg-model" in err and "Traceback" not in err
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    assert main(["generate", image_files[0], "--model", str(empty)]) == 2
    assert "no config.json" in capsys.readouterr().err
    other = tmp_path / "gpt2-folder"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    assert main(["generate", image_files[0], "--model", str(other)]) == 2
    assert "gpt2" in capsys.readouterr().err


def test_max_new_tokens_beyond_the_language_models_positions_is_capped(model_dir, image_files, capsys, caplog):
    # the fixture's GPT-2 has 128 positions; the prompt takes 6 of them
    code = main(["generate", image_files[0], "--model", str(model_dir), "--json", "--max-new-tokens", "500"])
    assert code == 0 and isinstance(json.loads(capsys.readouterr().out)[0]["report"], str)
    assert "--max-new-tokens" in caplog.text and "122" in caplog.text
