"""Ready-made LRRG models ("tiny", "small", a saved folder, a config file, or pretrained backbones) with processors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import torch
from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, GPT2Config, ResNetConfig, ViTConfig
from transformers.utils import logging

from .configuration_lrrg import LrrgConfig
from .image_processing_lrrg import LrrgImageProcessor
from .modeling_lrrg import LrrgForConditionalGeneration
from .processing_lrrg import LrrgProcessor, train_report_tokenizer

logger = logging.get_logger(__name__)

PRESETS: dict[str, dict[str, Any]] = {
    # The default model of `lrrg benchmark`: learns phantom findings on 2 CPU cores in minutes. Its vision
    # tower is a small ResNet: trained from scratch on ~1k images, a ViT of this size never starts to use
    # the image (its reports collapse to the most frequent one) while the convolutional prior does.
    "tiny": {
        "image_size": 128,
        "vision_type": "resnet",
        "vision": {"embedding_size": 32, "hidden_sizes": [32, 64, 128], "depths": [1, 1, 1], "layer_type": "basic"},
        "text": {"n_embd": 128, "n_layer": 2, "n_head": 4, "n_positions": 512},
        "num_image_tokens": 16,
        "vocab_size": 1000,
    },
    "small": {
        "image_size": 192,
        "vision": {"hidden_size": 192, "num_hidden_layers": 4, "num_attention_heads": 6, "intermediate_size": 768,
                   "patch_size": 16},
        "text": {"n_embd": 256, "n_layer": 4, "n_head": 8, "n_positions": 512},
        "num_image_tokens": 36,
        "vocab_size": 2000,
    },
}

# Used only when neither a tokenizer nor a corpus is given: byte-level BPE still encodes any text.
DEFAULT_CORPUS = (
    "FINDINGS: The heart size is normal. The lungs are clear. No pleural effusion or pneumothorax. "
    "IMPRESSION: No acute cardiopulmonary process.",
    "FINDINGS: The heart is enlarged. Small bilateral pleural effusions. Mild pulmonary edema. "
    "IMPRESSION: Cardiomegaly with small bilateral effusions.",
    "FINDINGS: Right upper lobe opacity concerning for pneumonia. No pneumothorax. "
    "IMPRESSION: Right upper lobe consolidation.",
    "FINDINGS: Large left pneumothorax. Mediastinal structures are midline. IMPRESSION: Left pneumothorax.",
    "FINDINGS: Left basilar atelectasis. Support devices in place. Degenerative changes of the spine. "
    "IMPRESSION: Left lower lobe atelectasis. Lines and tubes as described.",
    "FINDINGS: Nodule in the right lower lung. Fracture of the left posterior rib. Lung lesion. "
    "IMPRESSION: Pulmonary nodule and rib fracture.",
)


def _tokenizer_for(tokenizer: Any, corpus: Iterable[str] | None, vocab_size: int):
    if tokenizer is not None:
        return AutoTokenizer.from_pretrained(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else tokenizer
    if corpus is None:
        logger.info("No tokenizer or corpus given: training the report tokenizer on LRRG's built-in phrases.")
        corpus = DEFAULT_CORPUS
    return train_report_tokenizer(corpus, vocab_size=vocab_size)


def _image_processor_for(vision: str | None, image_size: int, num_channels: int) -> LrrgImageProcessor:
    mean = std = None
    if vision is not None:
        try:
            backbone = AutoImageProcessor.from_pretrained(vision)
            mean, std = getattr(backbone, "image_mean", None), getattr(backbone, "image_std", None)
        except (OSError, ValueError) as error:
            logger.warning(f"No image processor found for {vision} ({error}); normalising with mean/std 0.5.")
    if mean is not None and len(mean) != num_channels:
        mean = std = None
    return LrrgImageProcessor(size=image_size, num_channels=num_channels, image_mean=mean, image_std=std)


def _align_text_config(text_config: Any, tokenizer: Any) -> None:
    text_config.vocab_size = len(tokenizer)
    text_config.bos_token_id = tokenizer.bos_token_id
    text_config.eos_token_id = tokenizer.eos_token_id
    text_config.pad_token_id = tokenizer.pad_token_id


def _preset_configs(preset: dict[str, Any], image_size: int, tokenizer: Any) -> tuple[Any, GPT2Config]:
    if preset.get("vision_type", "vit") == "resnet":
        vision = ResNetConfig(num_channels=3, **preset["vision"])
        vision.image_size = image_size  # not a ResNet field; the processor reads the input side from it
    else:
        vision = ViTConfig(image_size=image_size, num_channels=3, **preset["vision"])
    text = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **preset["text"],
    )
    return vision, text


def _load_saved(path: str) -> tuple[LrrgForConditionalGeneration, LrrgProcessor]:
    model = LrrgForConditionalGeneration.from_pretrained(path)
    processor = LrrgProcessor.from_pretrained(path)
    return model, processor


def build_model_and_processor(
    model_config: str | os.PathLike = "tiny",
    vision: str | None = None,
    text: str | None = None,
    tokenizer: Any = None,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    image_size: int | None = None,
) -> tuple[LrrgForConditionalGeneration, LrrgProcessor]:
    """Builds an LRRG model and its processor.

    Args:
        model_config: `"tiny"`, `"small"`, a saved LRRG model folder, or a JSON file with an [`LrrgConfig`].
        vision: local path or Hub id of a pretrained vision backbone (replaces the preset's random one).
        text: local path or Hub id of a pretrained causal LM (its tokenizer is used unless `tokenizer` is given).
        tokenizer: a tokenizer object, or its path / Hub id. Default: trained on `corpus`.
        corpus: report strings to train the tokenizer on (see [`train_report_tokenizer`]).
        seed: seed of the random initialisation (the global torch RNG is left untouched).
        image_size: input side in pixels (default: the preset's or backbone's).

    Returns:
        `(model, processor)`; the model is in training mode.
    """
    model_config = str(model_config)
    if model_config in PRESETS:
        preset = PRESETS[model_config]
        config_dict = None
    elif os.path.isdir(model_config):
        return _load_saved(model_config)
    elif os.path.isfile(model_config):
        with open(model_config, encoding="utf-8") as handle:
            config_dict = json.load(handle)
        preset = {"vocab_size": 1000, "num_image_tokens": config_dict.get("num_image_tokens")}
    else:
        raise ValueError(
            f"model_config must be one of {sorted(PRESETS)}, a saved LRRG model folder or a config JSON file; "
            f"{model_config!r} is none of these."
        )
    if tokenizer is None and text is not None:
        tokenizer = text
    tokenizer = _tokenizer_for(tokenizer, corpus, preset["vocab_size"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if vision is not None or text is not None:
            model = _from_backbones(preset, config_dict, vision, text, tokenizer, image_size)
        else:
            model = _from_config(preset, config_dict, tokenizer, image_size)
    vision_config = model.config.vision_config
    size = image_size or getattr(vision_config, "image_size", None) or preset.get("image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    image_processor = _image_processor_for(vision, int(size), getattr(vision_config, "num_channels", 3))
    processor = LrrgProcessor(image_processor, tokenizer, num_image_tokens=model.config.image_seq_length)
    return model.train(), processor


def _ids_from(tokenizer: Any) -> dict[str, int]:
    from .processing_lrrg import IMAGE_TOKEN, REPORT_TOKEN, _ensure_special_tokens

    _ensure_special_tokens(tokenizer, IMAGE_TOKEN, REPORT_TOKEN)
    return {
        "image_token_id": tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        "report_token_id": tokenizer.convert_tokens_to_ids(REPORT_TOKEN),
    }


def _from_config(preset: dict, config_dict: dict | None, tokenizer: Any, image_size: int | None):
    if config_dict is not None:
        config = LrrgConfig.from_dict(config_dict)
        if image_size is not None:
            config.vision_config.image_size = image_size
    else:
        vision_config, text_config = _preset_configs(preset, image_size or preset["image_size"], tokenizer)
        config = LrrgConfig(vision_config, text_config, num_image_tokens=preset["num_image_tokens"])
    for key, value in _ids_from(tokenizer).items():
        setattr(config, key, value)
    _align_text_config(config.text_config, tokenizer)
    return LrrgForConditionalGeneration(config)


def _from_backbones(preset, config_dict, vision, text, tokenizer, image_size):
    """Pretrained vision and/or text backbones; the missing one comes from the preset (randomly initialised)."""
    import tempfile

    ids = _ids_from(tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        if vision is None or text is None:
            base = _from_config(preset, config_dict, tokenizer, image_size)
            if vision is None:
                vision = os.path.join(scratch, "vision")
                base.vision_tower.save_pretrained(vision)
            if text is None:
                text = os.path.join(scratch, "text")
                base.language_model.save_pretrained(text)
        overrides = {"num_image_tokens": preset.get("num_image_tokens"), **ids}
        if AutoConfig.from_pretrained(vision).model_type == "lrrg":
            raise ValueError(f"{vision} is a full LRRG model; pass it as model_config, not as vision.")
        model = LrrgForConditionalGeneration.from_vision_text_pretrained(vision, text, **overrides)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    _align_text_config(model.config.text_config, tokenizer)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


__all__ = ["PRESETS", "DEFAULT_CORPUS", "build_model_and_processor"]
