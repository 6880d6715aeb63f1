"""Tests of LrrgImageProcessor, LrrgProcessor, the report text convention and tokenizer training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lrrg.modeling_lrrg import (
    LrrgImageProcessor,
    LrrgProcessor,
    format_report,
    split_report,
    train_report_tokenizer,
)

REPORTS = [
    format_report("The heart is enlarged. Small left pleural effusion.", "Cardiomegaly."),
    format_report("The lungs are clear.", "No acute disease."),
] * 10


@pytest.fixture(scope="module")
def tokenizer():
    return train_report_tokenizer(REPORTS, vocab_size=320)


def two_region_array(dtype, dark, bright, shape=(60, 80)):
    array = np.full(shape, dark, dtype=dtype)
    array[:, shape[1] // 2 :] = bright
    return array


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(two_region_array(np.uint8, 10, 240)),
        Image.fromarray(two_region_array(np.uint16, 300, 3900)),
        Image.fromarray(two_region_array(np.int32, 300, 3900), mode="I"),
        Image.fromarray(np.stack([two_region_array(np.uint8, 10, 240)] * 3, -1)),
        Image.fromarray(np.stack([two_region_array(np.uint8, 10, 240)] * 4, -1)),
        Image.fromarray(np.stack([two_region_array(np.uint8, 10, 240)] * 3, -1)).convert("CMYK"),
        two_region_array(np.uint8, 10, 240),
        two_region_array(np.uint16, 300, 3900),
        two_region_array(np.float32, 0.05, 0.9),
        torch.from_numpy(two_region_array(np.float32, 0.05, 0.9))[None],
        torch.from_numpy(np.stack([two_region_array(np.uint8, 10, 240)] * 3, -1)),
    ],
    ids=["L", "I;16", "I", "RGB", "RGBA", "CMYK", "np-uint8", "np-uint16", "np-float", "torch-chw", "torch-hwc-uint8"],
)
def test_every_input_mode_gives_normalised_tensors_with_distinct_regions(image):
    processor = LrrgImageProcessor(size=32, resize_mode="resize")
    pixel_values = processor(image)["pixel_values"]
    assert pixel_values.shape == (1, 3, 32, 32) and pixel_values.dtype == torch.float32
    assert torch.equal(pixel_values[0, 0], pixel_values[0, 1])  # grayscale replicated to 3 channels
    dark, bright = pixel_values[0, 0, :, :12].mean(), pixel_values[0, 0, :, 20:].mean()
    assert bright - dark > 1.0  # in normalised units (mean/std 0.5): at least half the range apart


def test_pil_i16_mode_is_read_as_16_bit():
    image = Image.fromarray(two_region_array(np.uint16, 300, 3900))
    assert image.mode.startswith("I;16")


def test_16_bit_uses_real_range_not_clipped_or_crushed():
    # a 12-bit radiograph stored in 16 bits: dark lung 500, bright bone 3500, a few hot pixels
    array = two_region_array(np.uint16, 500, 3500)
    array[0, 0] = 4095
    unit = LrrgImageProcessor(size=32).to_unit_range(Image.fromarray(array))
    dark, bright = unit[:, :30].mean(), unit[:, 50:].mean()
    assert dark < 0.1 and bright > 0.9, (dark, bright)  # not crushed to black (x/65535) nor clipped to white (x/255)
    minmax = LrrgImageProcessor(size=32, intensity_mode="minmax").to_unit_range(array)
    assert minmax.min() >= 0.0 and minmax.max() == pytest.approx(1.0)
    assert minmax[:, 50:].mean() - minmax[:, :30].mean() > 0.6


def test_pad_mode_keeps_aspect_ratio_and_resize_mode_stretches():
    wide = np.full((20, 80), 255, dtype=np.uint8)
    padded = LrrgImageProcessor(size=40, image_mean=[0, 0, 0], image_std=[1, 1, 1])(wide)["pixel_values"][0, 0]
    assert padded[:10].max() == 0 and padded[-10:].max() == 0 and padded[20].min() == 1.0
    stretched = LrrgImageProcessor(size=40, resize_mode="resize", image_mean=[0] * 3, image_std=[1] * 3)(wide)
    assert stretched["pixel_values"].min() == 1.0


def test_channels_mean_std_and_batches():
    processor = LrrgImageProcessor(size=16, num_channels=1, image_mean=[0.25], image_std=[0.5])
    rgb = np.zeros((20, 20, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    values = processor([rgb, np.zeros((30, 30), dtype=np.uint8)])["pixel_values"]
    assert values.shape == (2, 1, 16, 16)
    assert values[0].mean().item() == pytest.approx((0.299 - 0.25) / 0.5, abs=1e-3)
    assert values[1].max().item() == pytest.approx(-0.5)
    assert processor(np.zeros((2, 20, 20, 3), dtype=np.uint8))["pixel_values"].shape == (2, 1, 16, 16)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((0, 10), dtype=np.uint8), "empty"),
        (np.zeros((10, 10, 5), dtype=np.uint8), "shape"),
        (np.zeros((2, 3, 10, 10, 1), dtype=np.uint8), "dimensions"),
        (np.zeros((1, 10), dtype=np.uint8), "too small"),
        (np.full((10, 10), np.nan, dtype=np.float32), "NaN"),
        ("not an image", "Unsupported image type"),
    ],
)
def test_bad_images_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        LrrgImageProcessor(size=16)(bad)


def test_invalid_processor_settings():
    with pytest.raises(ValueError, match="pad"):
        LrrgImageProcessor(resize_mode="crop")
    with pytest.raises(ValueError, match="percentile"):
        LrrgImageProcessor(intensity_mode="gamma")
    with pytest.raises(ValueError, match="num_channels"):
        LrrgImageProcessor(num_channels=2)


def test_format_and_split_report():
    text = format_report("  Heart  normal. ", "No acute disease.")
    assert text == "FINDINGS: Heart normal. IMPRESSION: No acute disease."
    assert split_report(text) == ("Heart normal.", "No acute disease.")
    assert split_report(format_report("", "Only impression.")) == ("", "Only impression.")
    assert split_report(format_report("Only findings.", None)) == ("Only findings.", "")
    assert split_report("free text without headers") == ("free text without headers", "")
    assert LrrgProcessor.split_report(LrrgProcessor.format_report("a", "b")) == ("a", "b")
    with pytest.raises(ValueError, match="Empty report"):
        format_report("", " ")


def test_train_report_tokenizer(tokenizer):
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4, 5]) == ["<pad>", "<s>", "</s>", "<unk>", "<image>", "<report>"]
    ids = tokenizer(REPORTS[0], add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids).strip() == REPORTS[0]
    assert tokenizer.decode(tokenizer("unseen wörds ✓", add_special_tokens=False)["input_ids"]).strip() == (
        "unseen wörds ✓"
    )
    with pytest.raises(ValueError, match="non-empty"):
        train_report_tokenizer(["", "  "])


def test_processor_generation_and_training_inputs(tokenizer):
    processor = LrrgProcessor(LrrgImageProcessor(size=16), tokenizer, num_image_tokens=3)
    images = [np.zeros((20, 20), dtype=np.uint8)] * 2
    generation = processor(images=images, prompts=["x", "a longer prompt"])
    ids, mask = generation["input_ids"], generation["attention_mask"]
    assert mask[0, 0] == 0 and mask[:, -1].all()  # left padding
    assert (ids == processor.image_token_id).sum(1).tolist() == [3, 3]
    assert (ids[:, -1] == processor.report_token_id).all()
    training = processor(images=images, text=REPORTS[:2])
    labels, ids, mask = training["labels"], training["input_ids"], training["attention_mask"]
    assert mask[:, 0].all() and mask[1, -1] == 0  # right padding, second report is shorter
    assert (labels[ids == processor.image_token_id] == -100).all()
    assert (labels[mask == 0] == -100).all()
    assert labels[0, :5].eq(-100).all()  # <s> + 3 images + <report>
    assert labels[0, mask[0] == 1][-1] == tokenizer.eos_token_id
    target = labels[0][labels[0] != -100][:-1]
    assert tokenizer.decode(target).strip() == REPORTS[0]
    with pytest.raises(ValueError, match="Report 1 is empty"):
        processor(images=images, text=[REPORTS[0], ""])
    with pytest.raises(ValueError, match="2 images but 3"):
        processor(images=images, text=REPORTS[:3])
    with pytest.raises(ValueError, match="images"):
        processor(text=REPORTS[:1])


def test_batch_decode_returns_only_the_report(tokenizer):
    processor = LrrgProcessor(LrrgImageProcessor(size=16), tokenizer, num_image_tokens=3)
    prompt = processor(images=[np.zeros((20, 20), dtype=np.uint8)], prompts=["indication text"])["input_ids"]
    report = tokenizer(REPORTS[1], add_special_tokens=False, return_tensors="pt")["input_ids"]
    full = torch.cat([prompt, report, torch.tensor([[tokenizer.eos_token_id, tokenizer.pad_token_id]])], dim=1)
    assert processor.batch_decode(full) == [REPORTS[1]]
    assert processor.decode(report[0]) == REPORTS[1]


def test_processor_adds_missing_special_tokens_and_round_trips(tmp_path, tokenizer):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({"[UNK]": 0, "</s>": 1, "heart": 2}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    plain = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", eos_token="</s>")
    processor = LrrgProcessor(LrrgImageProcessor(size=16), plain, num_image_tokens=2)
    assert len(plain) == 6 and plain.pad_token == "<pad>"
    assert processor.image_token_id != processor.report_token_id != plain.unk_token_id
    processor = LrrgProcessor(LrrgImageProcessor(size=16, resize_mode="resize"), tokenizer, num_image_tokens=3)
    processor.save_pretrained(tmp_path)
    loaded = LrrgProcessor.from_pretrained(tmp_path)
    assert loaded.num_image_tokens == 3 and loaded.image_processor.resize_mode == "resize"
    images = [np.arange(400, dtype=np.uint16).reshape(20, 20)]
    for key in ("input_ids", "pixel_values", "labels"):
        assert torch.equal(loaded(images=images, text=REPORTS[:1])[key], processor(images=images, text=REPORTS[:1])[key])
