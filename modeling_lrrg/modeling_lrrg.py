"""LRRG model: vision backbone -> projector -> image features scattered into a causal LM's prompt (LLaVA style)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, GenerationConfig, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.generation import GenerationMixin
from transformers.modeling_outputs import ModelOutput
from transformers.utils import logging

from .configuration_lrrg import LrrgConfig, vision_feature_size

logger = logging.get_logger(__name__)

_MAX_PREFIX_TOKENS = 8  # CLS + register tokens a ViT-like backbone may put before its patch tokens

CARD_TAGS = ("radiology", "report-generation", "chest-x-ray", "lrrg")

MODEL_CARD_TEMPLATE = """{front_matter}
# LRRG report generator

Generates a chest radiograph report (FINDINGS + IMPRESSION) from one frontal or lateral image.
Architecture: `{vision}` vision backbone -> `{projector}` projector ({tokens} image tokens) -> `{text}` language model.

**Research use only. This model is not a medical device** and must not be used for diagnosis, triage or any
clinical decision. Its reports can be wrong, incomplete or invented.

## Intended use
Research on robust radiology report generation, in particular on low-quality radiographs.

## Training data
{training_data}

## Metrics
{metrics}

## How to use
```python
from transformers import AutoModelForImageTextToText, AutoProcessor
model = AutoModelForImageTextToText.from_pretrained("PATH_OR_ID", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("PATH_OR_ID", trust_remote_code=True)
inputs = processor(images=[image], return_tensors="pt")
print(processor.batch_decode(model.generate(**inputs, max_new_tokens=128))[0])
```
"""


def card_front_matter(tags: list[str], datasets: list[str]) -> str:
    """The YAML header of the model card (JSON strings are valid YAML scalars, whatever the tag holds)."""
    def scalar(value: str) -> str:
        return value if re.fullmatch(r"[A-Za-z0-9][\w./-]*", value) else json.dumps(value)

    lines = ["---", "library_name: transformers", "pipeline_tag: image-text-to-text", "tags:"]
    lines += [f"- {scalar(tag)}" for tag in tags]
    if datasets:
        lines += ["datasets:", *(f"- {scalar(name)}" for name in datasets)]
    return "\n".join([*lines, "---", ""])


@dataclass
class LrrgImageFeaturesOutput(ModelOutput):
    """Image features of LRRG.

    Args:
        image_features (`torch.FloatTensor` of shape `(batch, image_seq_length, text_hidden_size)`): projected
            (and pooled) image tokens, ready to replace the `<image>` placeholders.
        vision_last_hidden_state (`torch.FloatTensor`): raw last hidden state of the vision backbone.
    """

    image_features: torch.FloatTensor | None = None
    vision_last_hidden_state: torch.FloatTensor | None = None


@dataclass
class LrrgCausalLMOutputWithPast(ModelOutput):
    """Output of [`LrrgForConditionalGeneration`].

    Args:
        loss (`torch.FloatTensor` scalar, *optional*): next-token loss on report tokens, when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, seq, vocab)`).
        past_key_values (`Cache`, *optional*): the language model's KV cache.
        hidden_states / attentions (*optional*): of the language model.
        image_hidden_states (`torch.FloatTensor` of shape `(batch, image_seq_length, hidden)`, *optional*):
            the projected image features used in this step (only on the step that received `pixel_values`).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Cache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    image_hidden_states: torch.FloatTensor | None = None


class LrrgProjector(nn.Module):
    """Maps vision features to the language model's embedding size (`mlp2x_gelu` or `linear`)."""

    def __init__(self, config: LrrgConfig) -> None:
        super().__init__()
        in_size, out_size = vision_feature_size(config.vision_config), config.text_config.hidden_size
        if config.projector_type == "linear":
            self.layers = nn.Sequential(nn.Linear(in_size, out_size))
        else:
            self.layers = nn.Sequential(
                nn.Linear(in_size, out_size), ACT2FN[config.projector_hidden_act], nn.Linear(out_size, out_size)
            )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


def vision_tokens(hidden_state: torch.Tensor) -> tuple[torch.Tensor, int | None]:
    """Returns the patch tokens (batch, tokens, dim) of a vision output and the side of their square grid (or None).

    Handles ViT-like sequences with CLS / register prefixes (B, prefix + H*W, D) and ConvNeXt / ResNet-like maps
    (B, D, H, W).
    """
    if hidden_state.dim() == 4:
        _, _, height, width = hidden_state.shape
        tokens = hidden_state.flatten(2).transpose(1, 2)
        return tokens, (height if height == width else None)
    if hidden_state.dim() != 3:
        raise ValueError(f"Unsupported vision output of shape {tuple(hidden_state.shape)}.")
    length = hidden_state.shape[1]
    for prefix in range(min(_MAX_PREFIX_TOKENS, length - 1) + 1):
        side = math.isqrt(length - prefix)
        if side * side == length - prefix:
            return hidden_state[:, prefix:], side
    return hidden_state, None


class LrrgPreTrainedModel(PreTrainedModel):
    """Weights initialisation and class attributes shared by LRRG models."""

    config_class = LrrgConfig
    config: LrrgConfig
    base_model_prefix = "lrrg"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _skip_keys_device_placement = ["past_key_values"]
    _no_split_modules: list[str] = []

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, LrrgProjector):
            std = getattr(self.config.text_config, "initializer_range", 0.02)
            for layer in module.layers:
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, mean=0.0, std=std)
                    nn.init.zeros_(layer.bias)


class LrrgForConditionalGeneration(LrrgPreTrainedModel, GenerationMixin):
    """Report generator: `vision_tower` -> `multi_modal_projector` -> `language_model` (a causal LM).

    Args:
        config ([`LrrgConfig`]): model configuration.
    """

    def __init__(self, config: LrrgConfig) -> None:
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.multi_modal_projector = LrrgProjector(config)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.card_info: dict[str, Any] = {}
        self.post_init()
        text = config.text_config
        self.generation_config = GenerationConfig(
            bos_token_id=getattr(text, "bos_token_id", None),
            eos_token_id=getattr(text, "eos_token_id", None),
            pad_token_id=getattr(text, "pad_token_id", None),
            # placeholders are never part of a report
            suppress_tokens=[t for t in (config.image_token_id, config.report_token_id) if t is not None],
        )

    # embedding accessors delegate to the language model
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_output_embeddings(value)

    def get_decoder(self) -> nn.Module:
        return self.language_model.get_decoder()

    def get_image_features(self, pixel_values: torch.FloatTensor) -> LrrgImageFeaturesOutput:
        """Encodes images into the embeddings that replace the `<image>` placeholders.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, channels, height, width)`).

        Returns:
            [`LrrgImageFeaturesOutput`] with `image_features` of shape `(batch, image_seq_length, text_hidden)`.
        """
        if pixel_values.dim() != 4:
            raise ValueError(
                f"pixel_values must have shape (batch, channels, height, width), got {tuple(pixel_values.shape)}."
            )
        dtype = next(self.vision_tower.parameters()).dtype
        outputs = self.vision_tower(pixel_values=pixel_values.to(dtype), return_dict=True)
        tokens, side = vision_tokens(outputs.last_hidden_state)
        tokens = self._pool(tokens, side)
        features = self.multi_modal_projector(tokens)
        return LrrgImageFeaturesOutput(image_features=features, vision_last_hidden_state=outputs.last_hidden_state)

    def _pool(self, tokens: torch.Tensor, side: int | None) -> torch.Tensor:
        target = self.config.num_image_tokens
        if target is None or target == tokens.shape[1]:
            return tokens
        grid = self.config.pooling_grid
        if side is not None and grid is not None:
            batch, _, dim = tokens.shape
            maps = tokens.transpose(1, 2).reshape(batch, dim, side, side)
            pool = F.adaptive_avg_pool2d if self.config.pooling_type == "avg" else F.adaptive_max_pool2d
            return pool(maps, grid).flatten(2).transpose(1, 2)
        pool = F.adaptive_avg_pool1d if self.config.pooling_type == "avg" else F.adaptive_max_pool1d
        return pool(tokens.transpose(1, 2), target).transpose(1, 2)

    def _merge_image_features(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor, pixel_values: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if input_ids is None:
            if pixel_values is not None:
                raise ValueError("Pass `input_ids` together with `pixel_values` so the <image> positions are known.")
            return inputs_embeds, None
        image_mask = input_ids == self.config.image_token_id
        if pixel_values is None:
            if image_mask.any():
                raise ValueError(
                    "input_ids contain <image> tokens but no pixel_values were given; build inputs with LrrgProcessor."
                )
            return inputs_embeds, None
        features = self.get_image_features(pixel_values).image_features
        expected = features.shape[0] * features.shape[1]
        if int(image_mask.sum()) != expected:
            raise ValueError(
                f"The prompt holds {int(image_mask.sum())} <image> tokens but {features.shape[0]} image(s) give "
                f"{features.shape[1]} features each ({expected} in all); the processor's num_image_tokens must equal "
                f"config.image_seq_length ({self.config.image_seq_length})."
            )
        features = features.to(inputs_embeds.device, inputs_embeds.dtype)
        inputs_embeds = inputs_embeds.masked_scatter(image_mask.unsqueeze(-1), features)
        return inputs_embeds, features

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> LrrgCausalLMOutputWithPast:
        """Runs the model.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, seq)`): prompt (+ report) ids with `<image>` placeholders.
            pixel_values (`torch.FloatTensor` of shape `(batch, channels, height, width)`): the radiographs.
            attention_mask (`torch.Tensor` of shape `(batch, seq)`): 1 for real tokens, 0 for padding.
            labels (`torch.LongTensor` of shape `(batch, seq)`, *optional*): targets; -100 is ignored, and image
                and padding positions are always ignored.

        Returns:
            [`LrrgCausalLMOutputWithPast`]; `loss` is a scalar when `labels` are given, `logits` is
            `(batch, seq, vocab)`.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` or `inputs_embeds`.")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        inputs_embeds, image_features = self._merge_image_features(input_ids, inputs_embeds, pixel_values)
        first_pass = past_key_values is None or past_key_values.get_seq_length() == 0
        if position_ids is None and attention_mask is not None and first_pass:
            # left- or right-padded rows start at position 0 on their first real token
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        kwargs["return_dict"] = True
        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
        loss = None
        if labels is not None:
            loss = self.report_loss(outputs.logits, labels, input_ids, attention_mask, num_items_in_batch)
        return LrrgCausalLMOutputWithPast(
            loss=loss,
            logits=outputs.logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=image_features,
        )

    def report_loss(
        self,
        logits: torch.Tensor,
        labels: torch.LongTensor,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-token cross-entropy on report tokens only (labels -100, image and padding positions ignored)."""
        if logits.shape[1] != labels.shape[1]:
            raise ValueError(f"labels length {labels.shape[1]} does not match the logits length {logits.shape[1]}.")
        labels = labels.clone()
        if input_ids is not None:
            labels[input_ids == self.config.image_token_id] = -100
        if attention_mask is not None:
            labels[attention_mask == 0] = -100
        shift_logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
        shift_labels = labels[:, 1:].reshape(-1).to(shift_logits.device)
        if num_items_in_batch is None:
            return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
        total = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
        return total / num_items_in_batch

    def prepare_inputs_for_generation(self, *args: Any, is_first_iteration: bool | None = False, **kwargs: Any):
        pixel_values = kwargs.pop("pixel_values", None)
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        # images are encoded once, in the prefill step; later steps read them from the KV cache
        if is_first_iteration or not kwargs.get("use_cache", True):
            model_inputs["pixel_values"] = pixel_values
        return model_inputs

    @classmethod
    def from_vision_text_pretrained(
        cls, vision_name_or_path: str, text_name_or_path: str, **config_overrides: Any
    ) -> LrrgForConditionalGeneration:
        """Composes a model from a pretrained vision backbone and a pretrained causal LM (local dirs or Hub ids).

        The projector is freshly initialised; both backbones keep their pretrained weights.

        Args:
            vision_name_or_path: e.g. `"microsoft/rad-dino"` or a local folder with a vision model.
            text_name_or_path: e.g. `"gpt2"` or a local folder with a causal LM.
            **config_overrides: [`LrrgConfig`] arguments (`projector_type`, `num_image_tokens`, `image_token_id`...).

        Returns:
            [`LrrgForConditionalGeneration`].
        """
        vision_config = AutoConfig.from_pretrained(vision_name_or_path)
        vision_config = getattr(vision_config, "vision_config", vision_config)  # CLIP / SigLIP: take the tower
        text_config = AutoConfig.from_pretrained(text_name_or_path)
        config = LrrgConfig(vision_config=vision_config, text_config=text_config, **config_overrides)
        model = cls(config)
        # the tower class (e.g. SiglipVisionModel) also reads the vision half of a dual-encoder checkpoint
        model.vision_tower = type(model.vision_tower).from_pretrained(vision_name_or_path)
        model.language_model = AutoModelForCausalLM.from_pretrained(text_name_or_path)
        model.config.vision_config = model.vision_tower.config
        model.config.text_config = model.language_model.config
        return model

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any):
        """Loads a saved model; checks up front that bitsandbytes is installed when a bnb quantization is asked for."""
        quantization = kwargs.get("quantization_config")
        method = getattr(quantization, "quant_method", None) or (
            quantization.get("quant_method") if isinstance(quantization, dict) else None
        )
        if str(getattr(method, "value", method)) == "bitsandbytes" and importlib.util.find_spec("bitsandbytes") is None:
            raise ImportError(
                "4-bit / 8-bit loading needs bitsandbytes, which is not installed. Install the quantization extra: "
                "pip install 'lrrg[quant]'  (or: pip install bitsandbytes)."
            )
        return super().from_pretrained(*args, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, write_model_card: bool = True, **kwargs):
        """Saves weights, config and remote code, and writes a model card (`README.md`) unless told not to."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        is_main = kwargs.get("is_main_process", True)
        if write_model_card and is_main:
            with open(os.path.join(save_directory, "README.md"), "w", encoding="utf-8") as handle:
                handle.write(self.model_card())
        return result

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | str | None = None,
    ) -> Any:
        """Uploads weights, config, remote code and the LRRG model card to the Hub.

        transformers' own `push_to_hub` would replace `README.md` with a generic card (or the Hub's old one), so
        the folder is written here by `save_pretrained` and uploaded as it is.

        Args:
            repo_id: `owner/name` of the model repository (created when missing).
            tags: extra card tags, added to LRRG's own.
            commit_message / commit_description / private / token / revision / create_pr / max_shard_size: as in
                `transformers.PreTrainedModel.push_to_hub`.

        Returns:
            The `huggingface_hub` commit info of the upload.
        """
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        extra_tags = [tags] if isinstance(tags, str) else list(tags or [])
        with tempfile.TemporaryDirectory() as work_dir:
            self.save_pretrained(work_dir, max_shard_size=max_shard_size, write_model_card=False)
            with open(os.path.join(work_dir, "README.md"), "w", encoding="utf-8") as handle:
                handle.write(self.model_card(extra_tags))
            return api.upload_folder(
                repo_id=repo_id, folder_path=work_dir, commit_message=commit_message or "Upload LRRG model",
                commit_description=commit_description, revision=revision, create_pr=create_pr,
            )

    def model_card(self, extra_tags: list[str] | None = None) -> str:
        """Returns the model card text.

        Uses `self.card_info`: `training_data` (str), `metrics` (dict), `datasets` (Hub dataset ids, listed in the
        card's front matter so that the Hub and the Space link them); tags are LRRG's, `self.model_tags` and
        `extra_tags`.
        """
        metrics = self.card_info.get("metrics") or {}
        metric_lines = "\n".join(f"- {name}: {value}" for name, value in metrics.items()) or "Not evaluated yet."
        tags = list(dict.fromkeys([*CARD_TAGS, *(self.model_tags or []), *(extra_tags or [])]))
        datasets = self.card_info.get("datasets") or []
        return MODEL_CARD_TEMPLATE.format(
            front_matter=card_front_matter(tags, [datasets] if isinstance(datasets, str) else list(datasets)),
            vision=self.config.vision_config.model_type,
            text=self.config.text_config.model_type,
            projector=self.config.projector_type,
            tokens=self.config.image_seq_length,
            training_data=self.card_info.get("training_data") or "Not recorded.",
            metrics=metric_lines,
        )


__all__ = [
    "LrrgPreTrainedModel",
    "LrrgForConditionalGeneration",
    "LrrgCausalLMOutputWithPast",
    "LrrgImageFeaturesOutput",
    "LrrgProjector",
]
