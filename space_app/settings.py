"""Settings of the LRRG Space, read from the environment (`LRRG_*`) and overridable from `lrrg app`."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

# A chest radiograph PNG/JPEG/DICOM is at most a few tens of MB; anything larger is refused by the server.
DEFAULT_MAX_UPLOAD_MB = 50
# 64 Mpx: a 43 cm detector at 0.1 mm is ~18 Mpx, so this leaves room for stitched films while refusing
# decompression bombs before they are decoded.
DEFAULT_MAX_PIXELS = 64_000_000
# Below this many pixels on the short side an image holds no diagnostic detail to assess.
DEFAULT_MIN_SIDE = 64

_ENV = {
    "model": "LRRG_MODEL",
    "runs_dir": "LRRG_RUNS_DIR",
    "device": "LRRG_DEVICE",
    "max_upload_mb": "LRRG_MAX_UPLOAD_MB",
    "max_pixels": "LRRG_MAX_PIXELS",
    "min_side": "LRRG_MIN_SIDE",
    "max_new_tokens": "LRRG_MAX_NEW_TOKENS",
    "queue_size": "LRRG_QUEUE_SIZE",
    "concurrency": "LRRG_CONCURRENCY",
    "num_examples": "LRRG_NUM_EXAMPLES",
    "server_name": "GRADIO_SERVER_NAME",
    "server_port": "GRADIO_SERVER_PORT",
}


@dataclass
class AppSettings:
    """Everything the Space can be told; every field has an `LRRG_*` environment variable (see `from_env`).

    Args:
        model: Hub id or local folder of an LRRG model; `None` = the newest model under `runs_dir`.
        runs_dir: where `lrrg benchmark` writes its runs (searched when `model` is `None`).
        device: torch device of the model.
        max_upload_mb: the server refuses larger uploads.
        max_pixels: decompression-bomb guard: images with more pixels are refused before decoding.
        min_side: images whose short side is smaller are refused as too small to assess.
        max_new_tokens: report length cap.
        queue_size: requests waiting beyond this are turned away ("queue full").
        concurrency: requests processed at the same time.
        num_examples: real radiographs offered as examples when the shared data is present.
        server_name / server_port: where `launch` listens (127.0.0.1 by default: local only).
    """

    model: str | None = None
    runs_dir: str = "runs"
    device: str = "cpu"
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE
    max_new_tokens: int = 128
    queue_size: int = 16
    concurrency: int = 2
    num_examples: int = 4
    server_name: str = "127.0.0.1"
    server_port: int = 7860

    def __post_init__(self) -> None:
        for name in ("max_pixels", "min_side", "max_new_tokens", "queue_size", "concurrency", "server_port"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if float(self.max_upload_mb) <= 0:
            raise ValueError(f"max_upload_mb must be positive, got {self.max_upload_mb!r}")
        if int(self.num_examples) < 0:
            raise ValueError(f"num_examples must be 0 or more, got {self.num_examples!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> AppSettings:
        """Settings from `LRRG_*` variables; keyword overrides that are not `None` win.

        Raises:
            ValueError: a variable holds a value of the wrong type, naming the variable.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        types = {field.name: field.type for field in fields(cls)}
        for name, variable in _ENV.items():
            raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            kind = {"int": int, "float": float}.get(str(types[name]).split(" ")[0], str)
            try:
                values[name] = kind(raw)
            except ValueError as error:
                raise ValueError(f"${variable}={raw!r} is not a valid {kind.__name__}") from error
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes (what `launch(max_file_size=...)` receives)."""
        return int(self.max_upload_mb * 1024 * 1024)


__all__ = ["DEFAULT_MAX_PIXELS", "DEFAULT_MAX_UPLOAD_MB", "DEFAULT_MIN_SIDE", "AppSettings"]
