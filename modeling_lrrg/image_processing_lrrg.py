"""Image processor for chest radiographs: 8/16-bit grayscale or colour in, normalised square tensors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_base import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.utils import logging

logger = logging.get_logger(__name__)

RESIZE_MODES = ("pad", "resize")
INTENSITY_MODES = ("percentile", "minmax")
_PIL_MODES = ("1", "L", "LA", "P", "I;16", "I;16B", "I;16L", "I", "F", "RGB", "RGBA")


def _pil_to_array(image: Image.Image) -> tuple[np.ndarray, bool]:
    """Returns (array HxW or HxWx3, is_8bit)."""
    mode = image.mode
    if mode not in _PIL_MODES:
        try:  # CMYK / YCbCr JPEGs, PA, RGBX...: colour spaces Pillow can map to RGB
            image, mode = image.convert("RGB"), "RGB"
        except ValueError as error:
            raise ValueError(f"Unsupported PIL image mode {mode!r}; expected one of {_PIL_MODES}.") from error
    if mode in ("1", "P", "LA"):
        image, mode = image.convert("L"), "L"
    if mode == "RGBA":
        image, mode = image.convert("RGB"), "RGB"
    if mode in ("L", "RGB"):
        return np.asarray(image), True
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.float32), False
    return np.asarray(image).astype(np.float32), False


def _to_hwc(array: np.ndarray) -> np.ndarray:
    """Puts an array into HxWxC with C in (1, 3), raising a clear error for other shapes."""
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3:
        if array.shape[-1] not in (1, 3, 4) and array.shape[0] in (1, 3, 4):
            array = np.moveaxis(array, 0, -1)
        if array.shape[-1] not in (1, 3, 4):
            raise ValueError(
                f"Cannot read an image of shape {tuple(array.shape)}: expected (H, W), (H, W, C) or (C, H, W) "
                "with C in 1, 3 or 4."
            )
        if array.shape[-1] == 4:
            array = array[:, :, :3]
    else:
        raise ValueError(
            f"Cannot read an image of shape {tuple(array.shape)}: expected 2 or 3 dimensions "
            "((H, W), (H, W, C) or (C, H, W)); pass one image at a time or a list of images."
        )
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise ValueError(f"Image of shape {tuple(array.shape)} is empty or too small (needs at least 2x2 pixels).")
    return array


class LrrgImageProcessor(BaseImageProcessor):
    r"""Turns chest radiographs into `pixel_values` for the LRRG vision backbone.

    8-bit inputs are scaled by 1/255. 16-bit, 32-bit integer and float inputs are rescaled from their real
    intensity range (robust percentiles by default, or min..max), so a 12-bit radiograph stored in 16 bits is
    not clipped to white. Grayscale is replicated to the backbone's channel count.

    Args:
        size (`int`, defaults to 224): side of the square output.
        resize_mode (`str`, defaults to `"pad"`): `"pad"` keeps the aspect ratio and pads with black;
            `"resize"` stretches to the square.
        num_channels (`int`, defaults to 3): channels the backbone expects.
        image_mean / image_std (`list[float]`): normalisation, usually the backbone's.
        intensity_mode (`str`, defaults to `"percentile"`): `"percentile"` or `"minmax"` for >8-bit images.
        intensity_percentiles (`tuple[float, float]`, defaults to `(0.5, 99.5)`).
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        size: int = 224,
        resize_mode: str = "pad",
        num_channels: int = 3,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        intensity_mode: str = "percentile",
        intensity_percentiles: Sequence[float] = (0.5, 99.5),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(size, dict):
            size = int(size.get("height", size.get("shortest_edge", 224)))
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}.")
        if intensity_mode not in INTENSITY_MODES:
            raise ValueError(f"intensity_mode must be one of {INTENSITY_MODES}, got {intensity_mode!r}.")
        if num_channels not in (1, 3):
            raise ValueError(f"num_channels must be 1 or 3, got {num_channels!r}.")
        if int(size) < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size!r}.")
        low, high = (float(p) for p in intensity_percentiles)
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"intensity_percentiles must satisfy 0 <= low < high <= 100, got {intensity_percentiles}.")
        self.size = int(size)
        self.resize_mode = resize_mode
        self.num_channels = num_channels
        self.image_mean = [float(v) for v in (image_mean if image_mean is not None else [0.5] * num_channels)]
        self.image_std = [float(v) for v in (image_std if image_std is not None else [0.5] * num_channels)]
        if len(self.image_mean) != num_channels or len(self.image_std) != num_channels:
            raise ValueError(
                f"image_mean / image_std need {num_channels} values, got {self.image_mean} / {self.image_std}."
            )
        self.intensity_mode = intensity_mode
        self.intensity_percentiles = [low, high]

    def to_unit_range(self, image: Any) -> np.ndarray:
        """Converts one image to float32 HxWxC in [0, 1] (C = 1 or 3), rescaling >8-bit data from its real range.

        Args:
            image: PIL image (`L`, `I;16`, `I`, `F`, `RGB`, `RGBA`...), numpy array or torch tensor.

        Returns:
            `np.ndarray` of shape (H, W, C), dtype float32, values in [0, 1].
        """
        if isinstance(image, Image.Image):
            array, is_8bit = _pil_to_array(image)
        elif isinstance(image, torch.Tensor):
            array = image.detach().cpu().numpy()
            is_8bit = array.dtype == np.uint8
        elif isinstance(image, np.ndarray):
            array, is_8bit = image, image.dtype == np.uint8
        else:
            raise ValueError(
                f"Unsupported image type {type(image).__name__}; pass a PIL image, a numpy array or a torch tensor."
            )
        if array.size == 0:
            raise ValueError(f"Got an empty image (shape {tuple(array.shape)}).")
        if array.dtype == bool:
            array, is_8bit = array.astype(np.float32), False
        elif not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"Unsupported image dtype {array.dtype}; expected integers or floats.")
        is_float = np.issubdtype(array.dtype, np.floating) and not isinstance(image, Image.Image)
        array = _to_hwc(array).astype(np.float32)
        if not np.isfinite(array).all():
            raise ValueError("Image contains NaN or infinite values.")
        if is_8bit:
            array = array / 255.0
        elif is_float and array.min() >= 0.0 and array.max() <= 1.0:
            pass  # float images already in [0, 1] are taken as they are
        else:
            array = self._rescale_range(array)
        if self.num_channels == 1 and array.shape[-1] == 3:
            array = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            array = array[:, :, None]
        return np.clip(array, 0.0, 1.0)

    def _rescale_range(self, array: np.ndarray) -> np.ndarray:
        if self.intensity_mode == "percentile":
            low, high = np.percentile(array, self.intensity_percentiles)
        else:
            low, high = float(array.min()), float(array.max())
        if high <= low:  # constant image (or percentiles collapsed): fall back to the full range
            low, high = float(array.min()), float(array.max())
        if high <= low:
            return np.zeros_like(array)
        return (array - low) / (high - low)

    def _resize(self, array: np.ndarray) -> np.ndarray:
        """Resizes HxWxC float array to size x size (aspect-preserving + black padding, or stretched)."""
        height, width = array.shape[:2]
        if self.resize_mode == "pad":
            scale = self.size / max(height, width)
            new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        else:
            new_h = new_w = self.size
        channels = [
            np.asarray(Image.fromarray(array[:, :, c]).resize((new_w, new_h), Image.Resampling.BILINEAR))
            for c in range(array.shape[-1])
        ]
        resized = np.stack(channels, axis=-1)
        if (new_h, new_w) == (self.size, self.size):
            return resized
        canvas = np.zeros((self.size, self.size, array.shape[-1]), dtype=np.float32)
        top, left = (self.size - new_h) // 2, (self.size - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = resized
        return canvas

    def preprocess(self, images: Any, return_tensors: str | None = "pt", **kwargs: Any) -> BatchFeature:
        """Processes one image or a list of images.

        Args:
            images: one image or a list of images (PIL, numpy, torch). A 4-D array/tensor is taken as a batch.
            return_tensors: `"pt"` (default), `"np"` or None.

        Returns:
            `BatchFeature` with `pixel_values` of shape (batch, num_channels, size, size).
        """
        if kwargs:
            logger.warning_once(f"LrrgImageProcessor ignores unknown arguments: {sorted(kwargs)}")
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            images = list(images)
        elif not isinstance(images, (list, tuple)):
            images = [images]
        if len(images) == 0:
            raise ValueError("No images given to LrrgImageProcessor.")
        mean = np.array(self.image_mean, dtype=np.float32)
        std = np.array(self.image_std, dtype=np.float32)
        batch = []
        for index, image in enumerate(images):
            try:
                array = self._resize(self.to_unit_range(image))
            except ValueError as error:
                raise ValueError(f"Image {index} of the batch: {error}") from error
            if array.shape[-1] != self.num_channels:
                array = np.repeat(array, self.num_channels, axis=-1)
            batch.append(((array - mean) / std).transpose(2, 0, 1))
        pixel_values = np.stack(batch).astype(np.float32)
        if return_tensors == "pt":
            pixel_values = torch.from_numpy(pixel_values)
        elif return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}.")
        return BatchFeature(data={"pixel_values": pixel_values})

    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        """Alias of [`~LrrgImageProcessor.preprocess`]."""
        return self.preprocess(images, **kwargs)


__all__ = ["LrrgImageProcessor", "RESIZE_MODES", "INTENSITY_MODES"]
