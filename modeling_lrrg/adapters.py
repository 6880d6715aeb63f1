"""Parameter-efficient fine-tuning (LoRA via peft) and 4/8-bit loading (bitsandbytes) of LRRG models."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from torch import nn

from .modeling_lrrg import LrrgForConditionalGeneration

QUANT_HINT = "pip install 'lrrg[quant]'  (or: pip install bitsandbytes)"


def lora_target_modules(model: LrrgForConditionalGeneration, include_projector: bool = False) -> list[str]:
    """Names of the linear layers LoRA should wrap: every Linear / Conv1D of the language model (not its head).

    Args:
        model: an LRRG model.
        include_projector: also adapt the image projector's linear layers.

    Returns:
        Fully qualified module names (usable as peft `target_modules`).
    """
    names = []
    for name, module in model.named_modules():
        is_linear = isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"
        if not is_linear:
            continue
        in_lm = name.startswith("language_model.") and module is not model.language_model.get_output_embeddings()
        in_projector = include_projector and name.startswith("multi_modal_projector.")
        if in_lm or in_projector:
            names.append(name)
    return names


def apply_lora(
    model: LrrgForConditionalGeneration,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    include_projector: bool = False,
    **lora_kwargs: Any,
):
    """Wraps the model with LoRA adapters on the language model (and optionally the projector).

    Only the adapter weights are trainable afterwards. Save with `save_pretrained`, reload with
    `peft.PeftModel.from_pretrained(base_model, folder)`, fold in with `merge_and_unload()`.

    Args:
        model: an LRRG model.
        r / alpha / dropout: LoRA rank, scaling and dropout.
        include_projector: also adapt the projector.
        **lora_kwargs: any other `peft.LoraConfig` argument.

    Returns:
        `peft.PeftModel`.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=lora_target_modules(model, include_projector),
        **lora_kwargs,
    )
    return get_peft_model(model, config)


def load_quantized(name_or_path: str | os.PathLike, bits: int = 4, **kwargs: Any) -> LrrgForConditionalGeneration:
    """Loads an LRRG model with bitsandbytes 4-bit (NF4) or 8-bit weights.

    Args:
        name_or_path: saved model folder or Hub id.
        bits: 4 or 8.
        **kwargs: passed to `from_pretrained` (e.g. `device_map`).

    Returns:
        The quantized model.
    """
    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits!r}.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"{bits}-bit loading needs bitsandbytes, which is not installed: {QUANT_HINT}.")
    import torch
    from transformers import BitsAndBytesConfig

    if bits == 4:
        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32,
            llm_int8_skip_modules=["vision_tower", "multi_modal_projector", "lm_head"],
        )
    else:
        quantization = BitsAndBytesConfig(
            load_in_8bit=True, llm_int8_skip_modules=["vision_tower", "multi_modal_projector", "lm_head"]
        )
    return LrrgForConditionalGeneration.from_pretrained(name_or_path, quantization_config=quantization, **kwargs)


__all__ = ["apply_lora", "lora_target_modules", "load_quantized", "QUANT_HINT"]
