"""The CheXbert labeller (BERT + 14 linear heads): loads the released `chexbert.pth` or an HF-format folder."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS

logger = logging.getLogger(__name__)

__all__ = [
    "CHEXBERT_CONDITIONS",
    "CheXbertLabeler",
    "WEIGHTS_HELP",
    "chexbert_state_dict_to_config",
    "load_chexbert",
]

# The order of CheXbert's 14 heads (its `CONDITIONS`); the last head (No Finding) has 2 classes.
CHEXBERT_CONDITIONS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices", "No Finding",
)  # fmt: skip
_CLASS_TO_LABEL = {0: None, 1: 1, 2: 0, 3: -1}  # head classes: blank, positive, negative, uncertain
ENV_CHECKPOINT = "LRRG_CHEXBERT_CHECKPOINT"
WEIGHTS_HELP = (
    "CheXbert weights are not bundled. Download the released `chexbert.pth` (Stanford ML Group CheXbert, "
    "https://github.com/stanfordmlgroup/CheXbert; also `chexbert.pth` in the Hub repository "
    "`StanfordAIMI/RRG_scorers`), then pass `checkpoint=/path/to/chexbert.pth` (or a Hub id / an HF-format "
    f"folder) or set ${ENV_CHECKPOINT}. The tokenizer is `bert-base-uncased` (a Hub id or a local copy: "
    "`tokenizer=PATH`)."
)


def chexbert_state_dict_to_config(state_dict: dict, num_attention_heads: int | None = None):
    """A `BertConfig` whose shapes match a CheXbert state dict (keys `bert.*`)."""
    from transformers import BertConfig

    word = state_dict["bert.embeddings.word_embeddings.weight"]
    layers = {int(m.group(1)) for k in state_dict if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k))}
    hidden = word.shape[1]
    return BertConfig(
        vocab_size=word.shape[0],
        hidden_size=hidden,
        num_hidden_layers=max(layers) + 1 if layers else 0,
        num_attention_heads=num_attention_heads or max(1, hidden // 64),
        intermediate_size=state_dict["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state_dict["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state_dict["bert.embeddings.token_type_embeddings.weight"].shape[0],
    )


def _build_module(config):
    import torch
    from transformers import BertModel

    class CheXbertModule(torch.nn.Module):
        """BERT with 13 four-class heads and one two-class head (No Finding) on the [CLS] state."""

        def __init__(self, config):
            super().__init__()
            self.bert = BertModel(config)
            self.dropout = torch.nn.Dropout(0.1)
            heads = [torch.nn.Linear(config.hidden_size, 4) for _ in range(13)]
            self.linear_heads = torch.nn.ModuleList([*heads, torch.nn.Linear(config.hidden_size, 2)])

        def forward(self, input_ids, attention_mask):
            cls = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
            cls = self.dropout(cls)
            return [head(cls) for head in self.linear_heads]

    return CheXbertModule(config)


def _resolve(checkpoint: str | os.PathLike | None) -> Path:
    checkpoint = checkpoint or os.environ.get(ENV_CHECKPOINT)
    if not checkpoint:
        raise FileNotFoundError(f"no CheXbert checkpoint given. {WEIGHTS_HELP}")
    path = Path(checkpoint).expanduser()
    if path.exists():
        return path
    if str(checkpoint).count("/") == 1 and not str(checkpoint).startswith((".", "/")):
        from huggingface_hub import snapshot_download

        try:
            return Path(
                snapshot_download(str(checkpoint), allow_patterns=["*.pth", "*.json", "*.safetensors"])
            )
        except Exception as exc:  # offline, missing repo, ...
            raise FileNotFoundError(
                f"could not fetch CheXbert weights from the Hub id {checkpoint!r}: {exc}. {WEIGHTS_HELP}"
            ) from exc
    raise FileNotFoundError(f"CheXbert checkpoint {str(checkpoint)!r} does not exist. {WEIGHTS_HELP}")


def _read_state_dict(path: Path) -> tuple[dict, Path | None]:
    import torch

    if path.is_dir():
        for name in ("chexbert.pth", "model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                config_path = path / "config.json"
                return _read_state_dict(path / name)[0], config_path if config_path.is_file() else None
        raise FileNotFoundError(
            f"{path} holds no chexbert.pth, model.safetensors or pytorch_model.bin. {WEIGHTS_HELP}"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        state = state.get("model_state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state.pop("bert.embeddings.position_ids", None)
    if "linear_heads.13.weight" not in state or "bert.embeddings.word_embeddings.weight" not in state:
        raise ValueError(
            f"{path} is not a CheXbert checkpoint (expected keys bert.* and linear_heads.0-13.*)"
        )
    return state, None


class CheXbertLabeler:
    """Labels reports with CheXbert.

    Args:
        checkpoint: the released `chexbert.pth` (state dict under `model_state_dict`, keys `module.`-prefixed),
            an HF-format folder (`config.json` + `model.safetensors` with keys `bert.*`, `linear_heads.*`), or a
            Hub id; default `$LRRG_CHEXBERT_CHECKPOINT`.
        tokenizer: a tokenizer path or Hub id (default `bert-base-uncased`) or a tokenizer object.
        device: torch device. batch_size: reports per forward pass. max_length: tokens per report (512).
    """

    def __init__(
        self, checkpoint=None, tokenizer="bert-base-uncased", device="cpu", batch_size=16, max_length=512
    ):
        import torch
        from transformers import AutoTokenizer, BertConfig

        state, config_path = _read_state_dict(_resolve(checkpoint))
        config = (
            BertConfig.from_json_file(str(config_path))
            if config_path
            else chexbert_state_dict_to_config(state)
        )
        self.model = _build_module(config)
        self.model.load_state_dict(state, strict=True)
        self.model.eval().to(device)
        if isinstance(tokenizer, (str, os.PathLike)):
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
            except Exception as exc:
                raise OSError(
                    f"could not load the CheXbert tokenizer {str(tokenizer)!r}: {exc}. {WEIGHTS_HELP}"
                ) from exc
        self.tokenizer = tokenizer
        self.device, self.batch_size, self.max_length = torch.device(device), batch_size, max_length

    def __call__(self, texts: Sequence[str]) -> list[dict[str, int | None]]:
        """Labels of each report, observation name -> 1 / 0 / -1 / None in the standard order."""
        import torch

        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = [" ".join(t.split()) for t in texts[start : start + self.batch_size]]
            enc = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(enc["input_ids"], enc["attention_mask"])
            classes = torch.stack([lg.argmax(-1) for lg in logits], dim=1).tolist()
            for row in classes:
                labels = {name: _CLASS_TO_LABEL[c] for name, c in zip(CHEXBERT_CONDITIONS, row)}
                rows.append({name: labels[name] for name in CHEXPERT_OBSERVATIONS})
        return rows


_CACHE: dict[tuple, CheXbertLabeler] = {}


def load_chexbert(checkpoint=None, tokenizer="bert-base-uncased", device="cpu", **kwargs) -> CheXbertLabeler:
    """A `CheXbertLabeler`, cached by its settings (loading BERT-base takes seconds)."""
    key = (
        str(checkpoint or os.environ.get(ENV_CHECKPOINT)),
        str(tokenizer),
        str(device),
        tuple(sorted(kwargs.items())),
    )
    if key not in _CACHE or not isinstance(tokenizer, (str, os.PathLike)):
        _CACHE[key] = CheXbertLabeler(checkpoint, tokenizer=tokenizer, device=device, **kwargs)
    return _CACHE[key]
