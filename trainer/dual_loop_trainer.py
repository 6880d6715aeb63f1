"""`DualLoopTrainer`: a `Trainer` whose update is bi-level and gradient-consistent across quality regimes.

A paired batch holds a high-quality (HQ) view and a low-quality (LQ) view of the same studies: the
shared keys (`input_ids`, `attention_mask`, `labels`, `pixel_values`, ...) are the HQ view and keys
prefixed ``lq_`` (e.g. `lq_pixel_values`) replace their namesakes in the LQ view. The labels are shared
(the pair shares its report). The maths lives in `dual_loop_math`; this file only wires it into the
Trainer contract: inputs through `_prepare_inputs`, forwards under `compute_loss_context_manager()`,
backward through `self.accelerator.backward`, the optimizer and scheduler stepped by the Trainer loop.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import Trainer
from transformers.utils import logging

from .configuration_dual_loop import _EXACT_CHECKPOINTING, DualLoopConfig
from .dual_loop_math import SequentialPlan, meta_objective, sequential_plan

__all__ = ["DualLoopTrainer", "split_views", "summed_token_loss"]

logger = logging.get_logger(__name__)

LQ_PREFIX = "lq_"
GEN_PREFIX = "gen_"


def split_views(inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Splits a paired batch into (hq_view, lq_view); lq_view is None when the batch has no ``lq_`` keys.

    Args:
        inputs: batch dict; ``lq_<name>`` entries replace ``<name>`` in the LQ view, ``gen_`` entries
            (generation prompts) are dropped.

    Returns:
        Two dicts of model inputs.
    """
    hq = {k: v for k, v in inputs.items() if not k.startswith((LQ_PREFIX, GEN_PREFIX))}
    lq_keys = {k[len(LQ_PREFIX) :]: v for k, v in inputs.items() if k.startswith(LQ_PREFIX)}
    if not lq_keys:
        return hq, None
    return hq, {**hq, **lq_keys}


def summed_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Causal-LM cross-entropy summed over the label tokens (labels shifted by one, -100 ignored).

    Args:
        logits: (batch, seq, vocab). labels: (batch, seq) aligned with the input ids.

    Returns:
        A 0-dim float32 tensor: Σ −log p(label_{t+1} | ≤ t).
    """
    if logits.shape[:2] != labels.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} do not align with labels {tuple(labels.shape)}: the dual-loop "
            "trainer expects a decoder-only model whose labels are aligned with input_ids."
        )
    shifted = logits[:, :-1].float().reshape(-1, logits.shape[-1])
    return F.cross_entropy(shifted, labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")


def _count_items(labels: torch.Tensor) -> torch.Tensor:
    return labels[..., 1:].ne(-100).sum()


class DualLoopTrainer(Trainer):
    """Trainer for `robust_mode` in erm / erm_aug / dual_loop / dual_loop_exact (see `DualLoopConfig`).

    Use it like `Trainer`, with a `DualLoopConfig` and a paired collator such as `PairedQualityCollator`.
    Per step it logs `loss_hq`, `loss_lq`, `outer_loss` and `grad_cosine` (cosine between the regimes'
    gradients over the meta parameters). Evaluation with `predict_with_generate` returns generated ids
    so that `compute_metrics` scores report text.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, DualLoopConfig):
            raise TypeError(f"DualLoopTrainer needs a DualLoopConfig, got {type(self.args).__name__}")
        # The loss is ours (token-summed, normalised over the accumulation window), never the model's.
        self.model_accepts_loss_kwargs = False
        if self.args.robust_mode == "dual_loop_exact" and self.args.world_size > 1:
            raise ValueError(
                "robust_mode='dual_loop_exact' is a single-process reference mode (its inner gradients are "
                "not synchronised across processes); use robust_mode='dual_loop' for distributed training."
            )
        self._extra_metrics: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._window: dict[str, Any] = {"items": None, "pending": [], "sums": defaultdict(float)}

    # ----- what the collator may pass through ---------------------------------------------------------
    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        # Raw columns reach the paired collator (it builds both views); the config already sets
        # remove_unused_columns=False, this keeps the behaviour if a caller switches it back on.
        extra = ["image", "findings", "impression", "report", "text", "quality_label", "study_id"]
        self._signature_columns += [c for c in extra if c not in self._signature_columns]

    def _meta_parameters(self, model: nn.Module) -> list[tuple[str, nn.Parameter]]:
        pattern = re.compile(self.args.meta_params) if self.args.meta_params else None
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if pattern is not None:
            named = [(n, p) for n, p in named if pattern.search(n)]
            if not named:
                raise ValueError(f"meta_params={self.args.meta_params!r} matches no trainable parameter")
        return named

    # ----- loss normalisation over the accumulation window -------------------------------------------
    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """Also counts the label tokens of the whole accumulation window (our loss normaliser)."""
        batch_samples, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if batch_samples and "labels" in batch_samples[0]:
            count = sum(_count_items(batch["labels"]) for batch in batch_samples).to(device)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                count = self.accelerator.gather(count.reshape(1)).sum()
            self._window["items"] = count
        return batch_samples, num_items

    def _loss_scale(self, labels: torch.Tensor) -> torch.Tensor:
        items = self._window["items"]
        if items is None:  # training_step called outside the Trainer loop: one micro-batch is the window
            items = _count_items(labels)
        scale = 1.0 / items.clamp_min(1).float()
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            scale = scale * self.accelerator.num_processes  # DDP averages, the token count is global
        return scale

    def _view_loss(self, model: nn.Module, view: dict[str, Any]) -> torch.Tensor:
        labels = view["labels"]
        forward_inputs = {k: v for k, v in view.items() if k != "labels"}
        with self.compute_loss_context_manager():
            outputs = model(**forward_inputs)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            return summed_token_loss(logits, labels) * self._loss_scale(labels)

    # ----- the training step --------------------------------------------------------------------------
    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        """One micro-batch of the chosen `robust_mode`; returns the detached ½(L_hq + L_lq) (L_hq for erm)."""
        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self._prepare_inputs(inputs)
        hq, lq = split_views(inputs)
        mode = self.args.robust_mode
        if mode != "erm" and lq is None:
            raise ValueError(
                f"robust_mode={mode!r} needs paired batches (keys prefixed 'lq_'); use PairedQualityCollator."
            )
        if mode == "erm":
            loss = self._view_loss(model, hq)
            self.accelerator.backward(loss)
            self._window["sums"]["loss_hq"] += loss.detach()
            result = loss.detach()
        elif mode == "erm_aug" and not self.args.track_grad_cosine:
            result = self._mixed_step(model, hq, lq)
        elif mode == "dual_loop_exact":
            result = self._exact_step(model, hq, lq)
        else:
            if mode == "erm_aug":
                plan = SequentialPlan("hq", "lq", 0.5, 0.5, 0.0)
            else:
                args = self.args
                plan = sequential_plan(
                    args.cycle, self.state.global_step, args.inner_lr, args.outer_weight, args.consistency_weight
                )
            result = self._sequential_step(model, {"hq": hq, "lq": lq}, plan)
        if self.accelerator.sync_gradients:
            self._close_window()
        return result

    def _mixed_step(self, model: nn.Module, hq: dict[str, Any], lq: dict[str, Any]) -> torch.Tensor:
        """erm_aug: one forward over the HQ and LQ views concatenated along the batch."""
        mixed = {}
        for key, value in hq.items():
            other = lq[key]
            if key == "labels" and not torch.equal(value, other):
                raise ValueError("the hq and lq views must share their labels (the pair shares its report)")
            if torch.is_tensor(value) and value.shape[1:] == other.shape[1:]:
                mixed[key] = torch.cat([value, other])
            else:
                raise ValueError(f"cannot mix views: '{key}' differs in shape or type between hq and lq")
        labels, size = mixed.pop("labels"), hq["labels"].shape[0]
        with self.compute_loss_context_manager():
            outputs = model(**mixed)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            scale = self._loss_scale(labels[:size])
            loss_hq = summed_token_loss(logits[:size], labels[:size]) * scale
            loss_lq = summed_token_loss(logits[size:], labels[size:]) * scale
            loss = 0.5 * (loss_hq + loss_lq)
        self.accelerator.backward(loss)
        self._window["sums"]["loss_hq"] += loss_hq.detach()
        self._window["sums"]["loss_lq"] += loss_lq.detach()
        return loss.detach()

    def _sequential_step(self, model: nn.Module, views: dict[str, dict], plan: SequentialPlan) -> torch.Tensor:
        """Cheap dual loop: first regime now, second regime at θ − γ g_first on the window's last micro-batch."""
        loss_first = self._view_loss(model, views[plan.first])
        self.accelerator.backward(plan.w_first * loss_first)
        window = self._window
        window["sums"][f"loss_{plan.first}"] += loss_first.detach()
        window["pending"].append(views[plan.second])
        if not self.accelerator.sync_gradients:
            return 0.5 * loss_first.detach()
        # The first regime's gradient is now complete for the window and synchronised across processes.
        meta = [p for _, p in self._meta_parameters(model) if p.grad is not None]
        grads_first = [p.grad.detach().clone() for p in meta]
        displaced = plan.step_size > 0.0 and self._finite(grads_first)
        if displaced:
            shift = plan.step_size / (plan.w_first * self._grad_scale())
            with torch.no_grad():
                torch._foreach_add_(meta, grads_first, alpha=-shift)
        loss_second = torch.zeros((), device=loss_first.device)
        pending, window["pending"] = window["pending"], []
        try:
            for index, view in enumerate(pending):
                last = index == len(pending) - 1
                context = self.accelerator.no_sync(model) if not last else contextlib.nullcontext()
                with context:
                    loss = self._view_loss(model, view)
                    self.accelerator.backward(plan.w_second * loss)
                loss_second = loss_second + loss.detach()
        finally:
            if displaced:
                with torch.no_grad():
                    torch._foreach_add_(meta, grads_first, alpha=shift)
        window["sums"][f"loss_{plan.second}"] += loss_second
        window["sums"]["outer_loss"] += loss_second
        self._record_cosine(meta, grads_first)
        return 0.5 * (loss_first.detach() + loss_second)

    def _exact_step(self, model: nn.Module, hq: dict[str, Any], lq: dict[str, Any]) -> torch.Tensor:
        """Second-order reference: differentiate J through its inner steps (double backward)."""
        window = self._window
        window["pending"].append({"hq": hq, "lq": lq})
        if not self.accelerator.sync_gradients:
            return torch.zeros((), device=self.args.device)
        pending, window["pending"] = window["pending"], []
        if any(getattr(module, "gradient_checkpointing", False) is True for module in model.modules()):
            raise ValueError(_EXACT_CHECKPOINTING)
        names, params = zip(*self._meta_parameters(model))

        def loss_fn(regime: str):
            def evaluate(values):
                substituted = dict(zip(names, values))
                total = 0.0
                for views in pending:
                    view = views[regime]
                    labels = view["labels"]
                    forward_inputs = {k: v for k, v in view.items() if k != "labels"}
                    # fused attention kernels have no double backward; the math kernel does
                    with self.compute_loss_context_manager(), sdpa_kernel(SDPBackend.MATH):
                        outputs = torch.func.functional_call(model, substituted, (), forward_inputs, strict=False)
                        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
                        total = total + summed_token_loss(logits, labels) * self._loss_scale(labels)
                return total

            return evaluate

        args = self.args
        objective, parts = meta_objective(
            list(params),
            {"hq": loss_fn("hq"), "lq": loss_fn("lq")},
            args.inner_lr,
            args.outer_weight,
            args.consistency_weight,
            args.consistency_form,
            args.cycle,
        )
        self.accelerator.backward(objective)
        for key, value in parts.items():
            if key == "grad_cosine":
                self._extra_metrics[key].append(value.float())
            else:
                window["sums"][key] += value
        return 0.5 * (parts["loss_hq"] + parts["loss_lq"])

    # ----- helpers ------------------------------------------------------------------------------------
    def _grad_scale(self) -> float:
        scaler = getattr(self.accelerator, "scaler", None)
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0

    @staticmethod
    def _finite(tensors: list[torch.Tensor]) -> bool:
        if not tensors:
            return False
        norms = torch._foreach_norm(tensors)
        return bool(torch.isfinite(torch.stack(norms)).all())

    def _record_cosine(self, meta: list[nn.Parameter], grads_first: list[torch.Tensor]) -> None:
        """cos(g_first, g_second) from the total gradient and the first regime's copy, without a 2nd copy."""
        if not meta:
            return
        totals = [p.grad for p in meta]
        a_a = torch.stack([(g.float() * g.float()).sum() for g in grads_first]).sum()
        a_t = torch.stack([(g.float() * t.float()).sum() for g, t in zip(grads_first, totals)]).sum()
        t_t = torch.stack([(t.float() * t.float()).sum() for t in totals]).sum()
        a_b = a_t - a_a
        b_b = (t_t - 2 * a_t + a_a).clamp_min(0)
        cosine = a_b / (a_a.sqrt() * b_b.sqrt()).clamp_min(1e-30)
        self._extra_metrics["grad_cosine"].append(cosine.detach())

    def _close_window(self) -> None:
        window = self._window
        for key, value in window["sums"].items():
            self._extra_metrics[key].append(torch.as_tensor(value, dtype=torch.float32).detach())
        window["sums"] = defaultdict(float)
        window["items"] = None

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Adds the averaged per-step dual-loop signals to training logs, then logs as usual."""
        if "loss" in logs and self._extra_metrics:
            for key, values in sorted(self._extra_metrics.items()):
                mean = torch.stack([v.to(self.args.device) for v in values]).mean()
                if self.accelerator.num_processes > 1:
                    mean = self.accelerator.reduce(mean, reduction="mean")
                logs[key] = round(float(mean), 6)
            self._extra_metrics.clear()
        super().log(logs, *args, **kwargs)

    # ----- evaluation with generation -----------------------------------------------------------------
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Loss on the evaluation view; with `predict_with_generate`, also the generated report ids."""
        gen_inputs = {k[len(GEN_PREFIX) :]: v for k, v in inputs.items() if k.startswith(GEN_PREFIX)}
        model_inputs = {k: v for k, v in inputs.items() if not k.startswith((GEN_PREFIX, LQ_PREFIX))}
        if prediction_loss_only or not self.args.predict_with_generate or not gen_inputs:
            return super().prediction_step(model, model_inputs, prediction_loss_only, ignore_keys)
        loss, _, _ = super().prediction_step(model, model_inputs, True, ignore_keys)
        gen_inputs = self._prepare_inputs(gen_inputs)
        for key in ("pixel_values", *[k for k in model_inputs if k.startswith("image")]):
            if key in model_inputs and key not in gen_inputs:
                gen_inputs[key] = self._prepare_input(model_inputs[key])
        unwrapped = self.accelerator.unwrap_model(model)
        with torch.inference_mode():
            generated = unwrapped.generate(
                **gen_inputs,
                max_new_tokens=self.args.generation_max_new_tokens,
                num_beams=self.args.generation_num_beams,
                do_sample=False,
            )
        prompt_length = gen_inputs["input_ids"].shape[1]
        if generated.shape[1] >= prompt_length and torch.equal(generated[:, :prompt_length], gen_inputs["input_ids"]):
            generated = generated[:, prompt_length:]
        return loss, generated, self._prepare_input(model_inputs.get("labels"))


