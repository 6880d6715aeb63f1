"""Tests of LrrgConfig / LrrgForConditionalGeneration on tiny random backbones (hidden <= 64, 2 layers)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    ConvNextConfig,
    Dinov2Config,
    GPT2Config,
    LlamaConfig,
    Qwen2Config,
    SiglipVisionConfig,
    SwinConfig,
    ViTConfig,
)

from lrrg.modeling_lrrg import (
    LrrgConfig,
    LrrgForConditionalGeneration,
    LrrgImageProcessor,
    LrrgProcessor,
    format_report,
    train_report_tokenizer,
)

REPORTS = [
    format_report("The heart is enlarged. Small left pleural effusion.", "Cardiomegaly and effusion."),
    format_report("The lungs are clear. No pneumothorax.", "No acute disease."),
    format_report("Right upper lobe opacity.", "Pneumonia."),
] * 5


@pytest.fixture(scope="module")
def tokenizer():
    return train_report_tokenizer(REPORTS, vocab_size=320)


def vision_config(kind: str = "vit", image_size: int = 32):
    if kind == "vit":
        return ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         image_size=image_size, patch_size=8)
    if kind == "dinov2":
        return Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                            image_size=image_size, patch_size=8)
    if kind == "siglip":
        return SiglipVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                  image_size=image_size, patch_size=8)
    if kind == "convnext":
        return ConvNextConfig(num_channels=3, num_stages=2, hidden_sizes=[16, 32], depths=[1, 1], image_size=image_size)
    if kind == "swin":
        return SwinConfig(image_size=image_size, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                          window_size=4)
    raise ValueError(kind)


def text_config(kind: str, tokenizer):
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    if kind == "gpt2":
        return GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=len(tokenizer), n_positions=128,
                          resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **ids)
    common = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
              "intermediate_size": 64, "vocab_size": len(tokenizer), "max_position_embeddings": 128, **ids}
    return LlamaConfig(**common) if kind == "llama" else Qwen2Config(**common)


def build(tokenizer, vision="vit", text="gpt2", num_image_tokens=4, seed=0, **kwargs):
    config = LrrgConfig(vision_config(vision), text_config(text, tokenizer), num_image_tokens=num_image_tokens,
                        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                        report_token_id=tokenizer.convert_tokens_to_ids("<report>"), **kwargs)
    torch.manual_seed(seed)
    model = LrrgForConditionalGeneration(config).eval()
    processor = LrrgProcessor(LrrgImageProcessor(size=32), tokenizer, num_image_tokens=config.image_seq_length)
    return model, processor


def images(count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (40, 36), dtype=np.uint8) for _ in range(count)]


def test_config_round_trip_and_validation(tmp_path, tokenizer):
    config = LrrgConfig(vision_config("vit"), text_config("llama", tokenizer), projector_type="linear",
                        num_image_tokens=9, image_token_id=4)
    config.save_pretrained(tmp_path)
    loaded = LrrgConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert (loaded.projector_type, loaded.num_image_tokens, loaded.image_seq_length) == ("linear", 9, 9)
    assert type(loaded.text_config).__name__ == "LlamaConfig"
    assert LrrgConfig(vision_config("vit"), text_config("gpt2", tokenizer)).image_seq_length == 16
    with pytest.raises(ValueError, match="mlp2x_gelu"):
        LrrgConfig(vision_config("vit"), text_config("gpt2", tokenizer), projector_type="mlp3")
    with pytest.raises(ValueError, match="avg"):
        LrrgConfig(vision_config("vit"), text_config("gpt2", tokenizer), pooling_type="median")
    with pytest.raises(ValueError, match="vision_config"):
        LrrgConfig(text_config=text_config("gpt2", tokenizer))
    with pytest.raises(ValueError, match="num_image_tokens"):
        LrrgConfig(vision_config("vit"), text_config("gpt2", tokenizer), num_image_tokens=0)
    with pytest.raises(ValueError, match=r"projector_hidden_act.*'gelu'.*'silu'"):
        LrrgConfig(vision_config("vit"), text_config("gpt2", tokenizer), projector_hidden_act="swiglu3")


def test_forward_loss_and_logits_shape(tokenizer):
    model, processor = build(tokenizer)
    inputs = processor(images=images(2), text=REPORTS[:2])
    output = model(**inputs)
    assert output.loss.dim() == 0 and torch.isfinite(output.loss)
    assert output.logits.shape == (*inputs["input_ids"].shape, len(tokenizer))
    assert output.image_hidden_states.shape == (2, 4, 32)


def test_loss_only_on_report_tokens(tokenizer):
    model, processor = build(tokenizer)
    inputs = processor(images=images(2), text=REPORTS[:2])
    output = model(**inputs)
    labels = inputs["labels"]
    manual = torch.nn.functional.cross_entropy(
        output.logits[:, :-1].reshape(-1, output.logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(output.loss, manual)
    # labels leaking the image placeholders and padding are masked by the model itself
    leaky = inputs["input_ids"].clone()
    prompt = labels == -100
    leaky[prompt & (inputs["input_ids"] != processor.image_token_id) & (inputs["attention_mask"] == 1)] = -100
    leaked = model(**{**inputs, "labels": leaky}).loss
    torch.testing.assert_close(leaked, output.loss)
    # the prompt is masked: nothing before <report> is a target
    first_target = (labels[0] != -100).nonzero()[0].item()
    assert inputs["input_ids"][0, first_target - 1] == processor.report_token_id


@pytest.mark.parametrize(
    ("vision", "text", "tokens"),
    [("vit", "gpt2", None), ("dinov2", "llama", 4), ("convnext", "qwen2", 4), ("siglip", "gpt2", 3),
     ("swin", "llama", 4)],
)
def test_backbone_families_forward_and_generate(tokenizer, vision, text, tokens):
    model, processor = build(tokenizer, vision=vision, text=text, num_image_tokens=tokens)
    inputs = processor(images=images(2), text=REPORTS[:2])
    output = model(**inputs)
    assert torch.isfinite(output.loss)
    assert output.image_hidden_states.shape[1] == model.config.image_seq_length
    generated = model.generate(**processor(images=images(2)), max_new_tokens=4, min_new_tokens=4)
    assert generated.shape[1] == processor(images=images(1))["input_ids"].shape[1] + 4


def test_projector_types_and_pooling(tokenizer):
    linear, _ = build(tokenizer, projector_type="linear", num_image_tokens=None)
    assert len(linear.multi_modal_projector.layers) == 1
    pixel = torch.randn(2, 3, 32, 32)
    assert linear.get_image_features(pixel).image_features.shape == (2, 16, 32)
    pooled, _ = build(tokenizer, num_image_tokens=4, pooling_type="max")
    assert pooled.get_image_features(pixel).image_features.shape == (2, 4, 32)
    odd, _ = build(tokenizer, num_image_tokens=5)
    assert odd.get_image_features(pixel).image_features.shape == (2, 5, 32)
    with pytest.raises(ValueError, match="batch, channels"):
        linear.get_image_features(torch.randn(3, 32, 32))


def test_input_validation_errors(tokenizer):
    model, processor = build(tokenizer)
    inputs = processor(images=images(1))
    with pytest.raises(ValueError, match="no pixel_values"):
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    wrong = LrrgProcessor(processor.image_processor, tokenizer, num_image_tokens=3)(images=images(1))
    with pytest.raises(ValueError, match="image_seq_length"):
        model(**wrong)
    with pytest.raises(ValueError, match="exactly one"):
        model(pixel_values=inputs["pixel_values"])


@pytest.mark.parametrize("text", ["gpt2", "llama"])
def test_generate_alone_equals_padded_batch(tokenizer, text):
    model, processor = build(tokenizer, text=text, seed=1)
    prompts = ["heart", "a much longer indication prompt with many tokens"]
    batch = processor(images=images(2), prompts=prompts)
    assert (batch["attention_mask"] == 0).any(), "the batch must really be padded"
    for kwargs in ({"do_sample": False}, {"num_beams": 3, "do_sample": False}):
        together = processor.batch_decode(model.generate(**batch, max_new_tokens=12, **kwargs))
        alone = [
            processor.batch_decode(model.generate(**processor(images=[img], prompts=[p]), max_new_tokens=12, **kwargs))[0]
            for img, p in zip(images(2), prompts)
        ]
        assert together == alone
    torch.manual_seed(3)
    sampled = model.generate(**batch, max_new_tokens=6, do_sample=True, top_k=20)
    torch.manual_seed(3)
    assert torch.equal(sampled, model.generate(**batch, max_new_tokens=6, do_sample=True, top_k=20))


def test_generate_kv_cache_encodes_images_once(tokenizer, monkeypatch):
    model, processor = build(tokenizer, seed=2)
    inputs = processor(images=images(2))
    calls = []
    original = model.vision_tower.forward
    monkeypatch.setattr(model.vision_tower, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    cached = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8)
    assert len(calls) == 1
    uncached = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, use_cache=False)
    assert torch.equal(cached, uncached)
    generated = cached[:, inputs["input_ids"].shape[1] :]
    assert not torch.isin(generated, torch.tensor([processor.image_token_id, processor.report_token_id])).any()


def test_save_load_identical_logits_and_model_card(tmp_path, tokenizer):
    model, processor = build(tokenizer)
    model.card_info = {"training_data": "LRRG phantoms", "metrics": {"BLEU-4": 0.12}}
    inputs = processor(images=images(2), text=REPORTS[:2])
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)
    card = (tmp_path / "README.md").read_text()
    assert "not a medical device" in card and "LRRG phantoms" in card and "BLEU-4: 0.12" in card
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageTextToText"] == "modeling_lrrg.LrrgForConditionalGeneration"
    assert {"modeling_lrrg.py", "configuration_lrrg.py", "processing_lrrg.py", "image_processing_lrrg.py"} <= set(
        os.listdir(tmp_path)
    )
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    assert torch.equal(loaded_processor(images=images(2))["input_ids"], processor(images=images(2))["input_ids"])


def test_push_to_hub_uploads_the_lrrg_model_card(tmp_path, tokenizer, monkeypatch):
    # transformers' own push_to_hub replaces README.md with a generic card; LRRG's card must be what is uploaded
    import huggingface_hub

    uploaded = {}

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded.update(repo_id=repo_id, files=set(os.listdir(folder_path)),
                        card=(Path(folder_path) / "README.md").read_text(encoding="utf-8"))
        return "commit"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo",
                        lambda self, repo_id, **kwargs: huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}"))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub.ModelCard, "load", lambda *a, **k: pytest.fail("must not fetch a card"))
    model, _ = build(tokenizer)
    model.card_info = {"training_data": "LRRG phantoms", "metrics": {"BLEU-4": 0.2}, "datasets": ["me/lrrg-bench"]}
    model.push_to_hub("me/lrrg-tiny", tags=["my-tag"])
    assert uploaded["repo_id"] == "me/lrrg-tiny"
    assert {"config.json", "model.safetensors", "modeling_lrrg.py", "README.md"} <= uploaded["files"]
    card = huggingface_hub.ModelCard(uploaded["card"])
    assert "not a medical device" in card.text and "LRRG phantoms" in card.text and "BLEU-4: 0.2" in card.text
    assert {"radiology", "lrrg", "my-tag"} <= set(card.data.tags) and card.data.datasets == ["me/lrrg-bench"]


REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    sys.path.append(sys.argv[2])  # site-packages WITHOUT its .pth files: the editable lrrg install is invisible
    assert importlib.util.find_spec("lrrg") is None, "lrrg must not be importable here"
    import numpy as np, torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    model = AutoModelForImageTextToText.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
    inputs = processor(images=[np.full((40, 36), 128, dtype=np.uint8)])
    ids = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    print(json.dumps({"module": type(model).__module__, "ids": ids.tolist(), "text": processor.batch_decode(ids)}))
    """
)


def test_remote_code_loads_without_package(tmp_path, tokenizer):
    model, processor = build(tokenizer, seed=4)
    folder = tmp_path / "exported"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    script = tmp_path / "load_remote.py"
    script.write_text(REMOTE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    site = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(folder), site],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["module"].startswith("transformers_modules")
    local = model.generate(**processor(images=[np.full((40, 36), 128, dtype=np.uint8)]), max_new_tokens=5,
                           do_sample=False)
    assert remote["ids"] == local.tolist()


def test_lora_trains_only_adapters_and_round_trips(tmp_path, tokenizer):
    from peft import PeftModel

    from lrrg.modeling_lrrg.adapters import apply_lora

    model, processor = build(tokenizer, seed=5)
    inputs = processor(images=images(2), text=REPORTS[:2])
    peft_model = apply_lora(model, r=4, include_projector=True)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert any("multi_modal_projector" in n for n in trainable) and any("language_model" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in peft_model.named_parameters()}
    optimizer = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=0.5)
    peft_model.train()
    for _ in range(2):
        peft_model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    peft_model.eval()
    changed = {n for n, p in peft_model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert any("lora_A" in n for n in changed)
    logits = peft_model(**inputs).logits
    peft_model.save_pretrained(tmp_path / "adapter")
    base, _ = build(tokenizer, seed=5)
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    torch.testing.assert_close(reloaded(**inputs).logits, logits)
    merged = reloaded.merge_and_unload()
    assert isinstance(merged, LrrgForConditionalGeneration)
    torch.testing.assert_close(merged(**inputs).logits, logits, rtol=1e-4, atol=1e-4)
    assert peft_model.generate(**processor(images=images(1)), max_new_tokens=3).shape[0] == 1


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_quantized_loading_without_bitsandbytes_says_how_to_install(tmp_path, tokenizer):
    from transformers import BitsAndBytesConfig

    model, _ = build(tokenizer)
    model.save_pretrained(tmp_path)
    with pytest.raises(ImportError, match=r"lrrg\[quant\]"):
        LrrgForConditionalGeneration.from_pretrained(tmp_path, quantization_config=BitsAndBytesConfig(load_in_4bit=True))
    from lrrg.modeling_lrrg.adapters import load_quantized

    with pytest.raises(ImportError, match=r"lrrg\[quant\]"):
        load_quantized(tmp_path, bits=8)


def test_gradient_checkpointing_and_attention_implementations(tokenizer):
    model, processor = build(tokenizer, text="llama", seed=6)
    inputs = processor(images=images(2), text=REPORTS[:2])
    model.train()
    model(**inputs).loss.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.activation_checkpointing_enable({"use_reentrant": False})
    assert model.is_activation_checkpointing and model.language_model.is_activation_checkpointing
    model(**inputs).loss.backward()
    for name, grad in reference.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-5)
    model.eval()
    sdpa = model(**inputs).logits
    model.set_attn_implementation("eager")
    assert model.language_model.config._attn_implementation == "eager"
    torch.testing.assert_close(model(**inputs).logits, sdpa, rtol=1e-4, atol=1e-4)


def test_embedding_accessors_delegate_and_resize(tokenizer):
    model, _ = build(tokenizer)
    assert model.get_input_embeddings() is model.language_model.get_input_embeddings()
    assert model.get_output_embeddings() is model.language_model.get_output_embeddings()
    model.resize_token_embeddings(len(tokenizer) + 8)
    assert model.get_input_embeddings().num_embeddings == len(tokenizer) + 8
    assert model.language_model.get_output_embeddings().out_features == len(tokenizer) + 8


def test_from_vision_text_pretrained_keeps_backbone_weights(tmp_path, tokenizer):
    source, _ = build(tokenizer, text="qwen2", seed=7)
    source.vision_tower.save_pretrained(tmp_path / "vision")
    source.language_model.save_pretrained(tmp_path / "text")
    model = LrrgForConditionalGeneration.from_vision_text_pretrained(
        str(tmp_path / "vision"), str(tmp_path / "text"), num_image_tokens=4, projector_type="linear",
        image_token_id=source.config.image_token_id,
    )
    for name, value in source.vision_tower.state_dict().items():
        assert torch.equal(model.vision_tower.state_dict()[name], value)
    for name, value in source.language_model.state_dict().items():
        assert torch.equal(model.language_model.state_dict()[name], value)
    assert model.config.projector_type == "linear" and model.config.text_config.model_type == "qwen2"


def test_presets_are_deterministic_and_reload(tmp_path):
    from lrrg.modeling_lrrg.presets import build_model_and_processor

    corpus = REPORTS
    model_a, processor = build_model_and_processor("tiny", corpus=corpus, seed=0)
    model_b, _ = build_model_and_processor("tiny", corpus=corpus, seed=0)
    model_c, _ = build_model_and_processor("tiny", corpus=corpus, seed=1)
    state_a, state_b, state_c = model_a.state_dict(), model_b.state_dict(), model_c.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)
    assert processor.num_image_tokens == model_a.config.image_seq_length
    assert model_a.config.text_config.vocab_size == len(processor.tokenizer)
    inputs = processor(images=images(1), text=REPORTS[:1])
    assert torch.isfinite(model_a(**inputs).loss)
    model_a.save_pretrained(tmp_path / "saved")
    processor.save_pretrained(tmp_path / "saved")
    reloaded, reloaded_processor = build_model_and_processor(str(tmp_path / "saved"))
    assert torch.equal(reloaded_processor(images=images(1))["input_ids"], processor(images=images(1))["input_ids"])
    (tmp_path / "config.json").write_text(json.dumps(model_a.config.to_dict()))
    from_json, _ = build_model_and_processor(str(tmp_path / "config.json"), corpus=corpus)
    assert from_json.config.num_image_tokens == model_a.config.num_image_tokens
    with pytest.raises(ValueError, match="tiny"):
        build_model_and_processor("huge")
