"""Configuration of the LRRG report generator: a vision backbone, a projector and a causal language model."""

from __future__ import annotations

import math
from typing import Any

from transformers import AutoConfig, PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

PROJECTOR_TYPES = ("mlp2x_gelu", "linear")
POOLING_TYPES = ("avg", "max")

# Backbones whose output grid is the patch grid shrunk by a fixed number of 2x down-samplings.
_HIERARCHICAL_STAGE_KEYS = {"swin": "depths", "swinv2": "depths", "convnext": "hidden_sizes", "convnextv2": "hidden_sizes"}


def _as_sub_config(value: Any, name: str) -> PretrainedConfig:
    if value is None:
        raise ValueError(
            f"LrrgConfig needs `{name}` (a transformers config or a dict with `model_type`); there is no default "
            "backbone. Build one with e.g. `ViTConfig(...)` / `GPT2Config(...)`, or use "
            "`LrrgForConditionalGeneration.from_vision_text_pretrained(...)`."
        )
    if isinstance(value, PretrainedConfig):
        return value
    if isinstance(value, dict):
        if "model_type" not in value:
            raise ValueError(f"`{name}` given as a dict must contain `model_type`; got keys {sorted(value)}.")
        value = dict(value)
        return AutoConfig.for_model(value.pop("model_type"), **value)
    raise ValueError(f"`{name}` must be a PretrainedConfig or a dict, not {type(value).__name__}.")


def _check_activation(name: str) -> None:
    from transformers.activations import ACT2CLS  # imports torch: only when a config is built

    if name not in ACT2CLS:
        raise ValueError(f"projector_hidden_act must be one of {tuple(sorted(ACT2CLS))}, got {name!r}.")


def vision_feature_size(vision_config: PretrainedConfig) -> int:
    """Returns the channel size of the vision backbone's last hidden state."""
    hidden_sizes = getattr(vision_config, "hidden_sizes", None)
    if vision_config.model_type in ("convnext", "convnextv2", "resnet", "regnet") and hidden_sizes:
        return int(hidden_sizes[-1])
    for key in ("hidden_size", "num_features", "embed_dim"):
        value = getattr(vision_config, key, None)
        if isinstance(value, int):
            if vision_config.model_type in ("swin", "swinv2") and key == "embed_dim":
                return int(value * 2 ** (len(vision_config.depths) - 1))
            return value
    if hidden_sizes:
        return int(hidden_sizes[-1])
    raise ValueError(f"Cannot tell the feature size of vision backbone `{vision_config.model_type}`.")


def _image_side(vision_config: PretrainedConfig) -> int | None:
    size = getattr(vision_config, "image_size", None)
    if isinstance(size, (list, tuple)):
        return int(size[0]) if size[0] == size[-1] else None
    return int(size) if isinstance(size, int) else None


def native_image_tokens(vision_config: PretrainedConfig) -> int | None:
    """Number of patch tokens a backbone produces at its configured image size, or None when unknown."""
    side = _image_side(vision_config)
    patch = getattr(vision_config, "patch_size", None)
    if isinstance(patch, (list, tuple)):
        patch = patch[0]
    if side is None or not isinstance(patch, int):
        return None
    grid = side // patch
    stage_key = _HIERARCHICAL_STAGE_KEYS.get(vision_config.model_type)
    if stage_key is not None:
        grid = grid // 2 ** (len(getattr(vision_config, stage_key)) - 1)
    return grid * grid


class LrrgConfig(PretrainedConfig):
    r"""Configuration of [`LrrgForConditionalGeneration`].

    Args:
        vision_config (`PretrainedConfig` or `dict`): REQUIRED. Any transformers vision backbone (ViT, Dinov2,
            Swin, ConvNeXt, SigLIP / CLIP vision...).
        text_config (`PretrainedConfig` or `dict`): REQUIRED. Any causal language model (GPT-2, Llama, Qwen2...).
        projector_type (`str`, defaults to `"mlp2x_gelu"`): `"mlp2x_gelu"` or `"linear"`.
        num_image_tokens (`int`, *optional*): pool the image tokens to this fixed count (adaptive pooling over the
            patch grid). `None` keeps every patch token (CLS / register tokens are dropped).
        pooling_type (`str`, defaults to `"avg"`): `"avg"` or `"max"` adaptive pooling.
        image_token_id (`int`, defaults to 4): id of the `<image>` placeholder token in the tokenizer.
        report_token_id (`int`, *optional*): id of the token that ends the prompt (`<report>`).
        projector_hidden_act (`str`, defaults to `"gelu"`): activation inside the `mlp2x_gelu` projector.
    """

    model_type = "lrrg"
    sub_configs = {"vision_config": AutoConfig, "text_config": AutoConfig}

    def __init__(
        self,
        vision_config: PretrainedConfig | dict | None = None,
        text_config: PretrainedConfig | dict | None = None,
        projector_type: str = "mlp2x_gelu",
        num_image_tokens: int | None = None,
        pooling_type: str = "avg",
        image_token_id: int = 4,
        report_token_id: int | None = None,
        projector_hidden_act: str = "gelu",
        **kwargs: Any,
    ) -> None:
        if projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type must be one of {PROJECTOR_TYPES}, got {projector_type!r}.")
        if pooling_type not in POOLING_TYPES:
            raise ValueError(f"pooling_type must be one of {POOLING_TYPES}, got {pooling_type!r}.")
        if num_image_tokens is not None and (not isinstance(num_image_tokens, int) or num_image_tokens < 1):
            raise ValueError(f"num_image_tokens must be a positive int or None, got {num_image_tokens!r}.")
        if not isinstance(image_token_id, int) or image_token_id < 0:
            raise ValueError(f"image_token_id must be a non-negative int, got {image_token_id!r}.")
        if report_token_id is not None and (not isinstance(report_token_id, int) or report_token_id < 0):
            raise ValueError(f"report_token_id must be a non-negative int or None, got {report_token_id!r}.")
        _check_activation(projector_hidden_act)
        self.vision_config = _as_sub_config(vision_config, "vision_config")
        self.text_config = _as_sub_config(text_config, "text_config")
        self.projector_type = projector_type
        self.num_image_tokens = num_image_tokens
        self.pooling_type = pooling_type
        self.image_token_id = image_token_id
        self.report_token_id = report_token_id
        self.projector_hidden_act = projector_hidden_act
        kwargs.setdefault("tie_word_embeddings", getattr(self.text_config, "tie_word_embeddings", False))
        super().__init__(**kwargs)

    @property
    def image_seq_length(self) -> int:
        """Number of `<image>` placeholder tokens per image (after pooling)."""
        if self.num_image_tokens is not None:
            return self.num_image_tokens
        native = native_image_tokens(self.vision_config)
        if native is None:
            raise ValueError(
                f"Cannot infer the number of image tokens of backbone `{self.vision_config.model_type}`; "
                "set `num_image_tokens` in LrrgConfig."
            )
        return native

    @property
    def pooling_grid(self) -> int | None:
        """Side of the square pooled grid when `num_image_tokens` is a perfect square, else None."""
        if self.num_image_tokens is None:
            return None
        side = math.isqrt(self.num_image_tokens)
        return side if side * side == self.num_image_tokens else None


__all__ = ["LrrgConfig", "PROJECTOR_TYPES", "POOLING_TYPES", "native_image_tokens", "vision_feature_size"]
