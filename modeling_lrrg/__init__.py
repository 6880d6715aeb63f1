"""The LRRG model (`lrrg.modeling_lrrg`): config, model, image processor, processor; registered with the Auto classes."""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoProcessor,
)

from .configuration_lrrg import LrrgConfig
from .image_processing_lrrg import LrrgImageProcessor
from .modeling_lrrg import (
    LrrgCausalLMOutputWithPast,
    LrrgForConditionalGeneration,
    LrrgImageFeaturesOutput,
    LrrgPreTrainedModel,
)
from .processing_lrrg import LrrgProcessor, format_report, split_report, train_report_tokenizer

# `save_pretrained` writes `auto_map` and copies these files, so a saved folder loads with trust_remote_code
LrrgConfig.register_for_auto_class()
LrrgForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")
LrrgImageProcessor.register_for_auto_class("AutoImageProcessor")
LrrgProcessor.register_for_auto_class("AutoProcessor")

# in-process: the Auto factories resolve model_type "lrrg" without trust_remote_code
AutoConfig.register("lrrg", LrrgConfig, exist_ok=True)
AutoModelForImageTextToText.register(LrrgConfig, LrrgForConditionalGeneration, exist_ok=True)
AutoImageProcessor.register(LrrgConfig, slow_image_processor_class=LrrgImageProcessor, exist_ok=True)
AutoProcessor.register(LrrgConfig, LrrgProcessor, exist_ok=True)

__all__ = [
    "LrrgConfig",
    "LrrgPreTrainedModel",
    "LrrgForConditionalGeneration",
    "LrrgCausalLMOutputWithPast",
    "LrrgImageFeaturesOutput",
    "LrrgImageProcessor",
    "LrrgProcessor",
    "format_report",
    "split_report",
    "train_report_tokenizer",
]
