"""DualLoopTrainer on a tiny GPT-2 whose "hq"/"lq" views are clean and token-corrupted inputs."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, default_data_collator

from lrrg.trainer import DualLoopConfig, DualLoopTrainer

VOCAB, LENGTH = 24, 8


def make_examples(num: int = 8, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Token sequences (hq view) and a corrupted copy (lq view) sharing labels; varying label counts."""
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for index in range(num):
        ids = torch.randint(1, VOCAB, (LENGTH,), generator=generator)
        noisy = ids.clone()
        mask = torch.rand(LENGTH, generator=generator) < 0.4
        noisy[mask] = torch.randint(1, VOCAB, (int(mask.sum()),), generator=generator)
        labels = ids.clone()
        labels[: 1 + index % 3] = -100  # prompt-like positions: different token counts per example
        examples.append({"input_ids": ids, "lq_input_ids": noisy, "labels": labels})
    return examples


def tiny_model(seed: int = 0, dtype=torch.float32) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config).to(dtype)


def make_trainer(tmp_path, model=None, examples=None, **overrides) -> DualLoopTrainer:
    settings = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        max_steps=2,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
        inner_lr=0.1,
        outer_weight=1.0,
    )
    settings.update(overrides)
    args = DualLoopConfig(**settings)
    return DualLoopTrainer(
        model=model if model is not None else tiny_model(),
        args=args,
        train_dataset=examples if examples is not None else make_examples(),
        data_collator=default_data_collator,
    )


def step_gradient(trainer: DualLoopTrainer, batch, global_step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One training_step outside the loop (one micro-batch = the window); returns (loss, flat gradient)."""
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    trainer.model.zero_grad()
    trainer.state.global_step = global_step
    loss = trainer.training_step(trainer.model, default_data_collator(batch))
    grad = torch.cat([p.grad.reshape(-1) for p in trainer.model.parameters() if p.grad is not None])
    return loss, grad


def test_config_validates_its_fields():
    with pytest.raises(ValueError, match="robust_mode"):
        DualLoopConfig(output_dir="x", robust_mode="maml", use_cpu=True)
    with pytest.raises(ValueError, match="cycle"):
        DualLoopConfig(output_dir="x", cycle="sideways", use_cpu=True)
    with pytest.raises(ValueError, match="inner_lr"):
        DualLoopConfig(output_dir="x", inner_lr=-1.0, use_cpu=True)
    with pytest.raises(ValueError, match="cosine"):
        DualLoopConfig(output_dir="x", consistency_form="cosine", consistency_weight=0.1, use_cpu=True)
    with pytest.raises(ValueError, match="regular expression"):
        DualLoopConfig(output_dir="x", meta_params="(", use_cpu=True)
    assert DualLoopConfig(output_dir="x", use_cpu=True).remove_unused_columns is False


def test_every_dual_loop_field_has_help_and_a_command_line_flag():
    from dataclasses import fields

    from transformers import HfArgumentParser, TrainingArguments

    own = {f.name for f in fields(DualLoopConfig)} - {f.name for f in fields(TrainingArguments)}
    assert {"robust_mode", "inner_lr", "outer_weight", "consistency_weight", "consistency_form", "cycle",
            "meta_params"} <= own  # fmt: skip
    assert all(f.metadata.get("help") for f in fields(DualLoopConfig) if f.name in own)
    parser = HfArgumentParser(DualLoopConfig)
    (args,) = parser.parse_args_into_dataclasses(
        ["--output_dir", "x", "--use_cpu", "--robust_mode", "erm_aug", "--inner_lr", "0.5", "--cycle", "hq_to_lq"]
    )
    assert (args.robust_mode, args.inner_lr, args.cycle) == ("erm_aug", 0.5, "hq_to_lq")
    with pytest.raises(SystemExit):
        parser.parse_args_into_dataclasses(["--output_dir", "x", "--robust_mode", "maml"])
    with pytest.raises(ValueError, match="outer_weight"):
        DualLoopConfig(output_dir="x", outer_weight=float("nan"), use_cpu=True)


def test_unpaired_batch_is_rejected_with_a_clear_error(tmp_path):
    trainer = make_trainer(tmp_path)
    batch = [{k: v for k, v in e.items() if not k.startswith("lq_")} for e in make_examples(2)]
    with pytest.raises(ValueError, match="paired batches"):
        step_gradient(trainer, batch)


def test_dual_loop_with_zero_beta_and_lambda_equals_erm_aug(tmp_path):
    batch = make_examples(2)
    erm_aug = make_trainer(tmp_path, robust_mode="erm_aug")
    dual = make_trainer(tmp_path, robust_mode="dual_loop", outer_weight=0.0, consistency_weight=0.0, inner_lr=0.5)
    loss_a, grad_a = step_gradient(erm_aug, batch)
    loss_b, grad_b = step_gradient(dual, batch)
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert torch.allclose(grad_a, grad_b, atol=1e-6)
    # with β > 0 the update really differs
    _, grad_c = step_gradient(make_trainer(tmp_path, robust_mode="dual_loop"), batch)
    assert not torch.allclose(grad_a, grad_c, atol=1e-4)


def test_default_approximation_matches_exact_meta_gradient_to_first_order(tmp_path):
    """‖avg-over-cycle(dual_loop) − exact‖ / ‖exact − zeroth order‖ shrinks ~linearly as α → 0."""
    batch = make_examples(2)
    ratios = []
    for alpha in (0.01, 0.005, 0.0025):
        kwargs = dict(inner_lr=alpha, outer_weight=1.0)
        cheap = make_trainer(tmp_path, model=tiny_model(dtype=torch.float64), robust_mode="dual_loop", **kwargs)
        approx = 0.5 * (step_gradient(cheap, batch, 0)[1] + step_gradient(cheap, batch, 1)[1])
        exact_trainer = make_trainer(tmp_path, model=tiny_model(dtype=torch.float64), robust_mode="dual_loop_exact", **kwargs)
        exact = step_gradient(exact_trainer, batch)[1]
        zeroth = 2.0 * step_gradient(make_trainer(tmp_path, model=tiny_model(dtype=torch.float64), robust_mode="erm_aug"), batch)[1]
        ratios.append(((approx - exact).norm() / (exact - zeroth).norm()).item())
    assert ratios[0] > ratios[1] > ratios[2]
    for big, small in zip(ratios, ratios[1:]):
        assert 0.3 < small / big < 0.7, ratios  # halving α roughly halves the relative error


@pytest.mark.parametrize("mode", ["erm", "erm_aug", "dual_loop", "dual_loop_exact"])
def test_gradient_accumulation_invariance(tmp_path, mode):
    def run(batch_size, accumulation):
        trainer = make_trainer(
            tmp_path, robust_mode=mode, per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation, max_steps=2, examples=make_examples(4),
        )
        trainer.train()
        logs = [entry for entry in trainer.state.log_history if "loss" in entry]
        return [(entry["loss"], entry["grad_norm"]) for entry in logs]

    reference, accumulated = run(2, 1), run(1, 2)
    assert len(reference) == len(accumulated) == 2
    for (loss_a, norm_a), (loss_b, norm_b) in zip(reference, accumulated):
        assert loss_a == pytest.approx(loss_b, rel=1e-4, abs=1e-5)
        assert norm_a == pytest.approx(norm_b, rel=1e-4)


def test_every_trainable_parameter_changes_and_signals_are_logged(tmp_path):
    trainer = make_trainer(tmp_path, robust_mode="dual_loop", max_steps=3)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    for name, param in trainer.model.named_parameters():
        assert not torch.equal(before[name], param), f"{name} did not change"
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    for key in ("loss_hq", "loss_lq", "outer_loss", "grad_cosine"):
        assert all(key in entry for entry in logged), key
    assert all(-1.0 <= entry["grad_cosine"] <= 1.0 for entry in logged)


def test_lora_only_adapter_weights_change(tmp_path):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model(), LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    trainer = make_trainer(tmp_path, model=model, robust_mode="dual_loop", max_steps=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()
    for name, param in model.named_parameters():
        changed = not torch.equal(before[name], param)
        if "lora_" in name:  # lora_B moves at step 1, lora_A (zero gradient while B = 0) at step 2
            assert changed, f"adapter weight {name} did not change"
        if "lora_" not in name:
            assert not changed, f"frozen weight {name} changed"


def test_resume_from_checkpoint_reproduces_the_next_losses(tmp_path):
    common = dict(robust_mode="dual_loop", max_steps=4, per_device_train_batch_size=2, examples=make_examples(8))
    full = make_trainer(tmp_path / "full", **common)
    full.train()
    full_losses = [e["loss"] for e in full.state.log_history if "loss" in e]
    first = make_trainer(tmp_path / "part", save_strategy="steps", save_steps=2, **common)
    first.train()
    resumed = make_trainer(tmp_path / "part", save_strategy="no", **common)
    resumed.train(resume_from_checkpoint=str(tmp_path / "part" / "out" / "checkpoint-2"))
    resumed_losses = [e["loss"] for e in resumed.state.log_history if "loss" in e and e["step"] > 2]
    assert resumed_losses == pytest.approx(full_losses[2:], rel=1e-5)


@pytest.mark.parametrize("mode", ["erm", "erm_aug", "dual_loop"])
def test_gradient_checkpointing_changes_no_number(tmp_path, mode):
    def run(**flags):
        trainer = make_trainer(tmp_path, robust_mode=mode, max_steps=2, **flags)
        trainer.train()
        logs = [entry for entry in trainer.state.log_history if "loss" in entry]
        return trainer, [value for entry in logs for value in (entry["loss"], entry["grad_norm"])]

    _, plain = run()
    trainer, checkpointed = run(activation_checkpointing=True)
    assert trainer.model.is_activation_checkpointing
    assert checkpointed == pytest.approx(plain, rel=1e-5)


def test_exact_mode_refuses_gradient_checkpointing(tmp_path):
    # functional_call substitutes the adapted parameters only during the forward: a checkpointed block would
    # recompute at the original ones in backward and give a silently wrong meta-gradient
    for name in ("activation_checkpointing", "gradient_checkpointing"):  # the new name and its deprecated alias
        with pytest.raises(ValueError, match="gradient checkpointing"):
            DualLoopConfig(output_dir="x", robust_mode="dual_loop_exact", use_cpu=True, **{name: True})
    model = tiny_model()
    model.activation_checkpointing_enable()
    with pytest.raises(ValueError, match="gradient checkpointing"):
        make_trainer(tmp_path, model=model, robust_mode="dual_loop_exact").train()


def test_fp16_loss_scale_is_divided_out_of_the_virtual_step(tmp_path):
    """A GradScaler multiplies every gradient by S: the virtual step must still be θ − γ g, not θ − γ S g."""
    batch = make_examples(2)
    _, reference = step_gradient(make_trainer(tmp_path, robust_mode="dual_loop"), batch)
    scaled = make_trainer(tmp_path, robust_mode="dual_loop")
    scale = 2.0**10
    scaled.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=scale)  # what fp16 on a GPU installs
    _, grad = step_gradient(scaled, batch)
    assert torch.allclose(grad / scale, reference, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_run_logs_finite_signals(tmp_path):
    trainer = make_trainer(tmp_path, robust_mode="dual_loop", bf16=True, max_steps=2)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    for key in ("loss", "loss_hq", "loss_lq", "outer_loss", "grad_cosine", "grad_norm"):
        assert all(torch.isfinite(torch.tensor(entry[key])) for entry in logged), key
