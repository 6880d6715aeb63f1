"""`DualLoopConfig`: `TrainingArguments` plus the dual-loop settings (every field has help text for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .dual_loop_math import CONSISTENCY_FORMS, CYCLES

__all__ = ["ROBUST_MODES", "DualLoopConfig"]

ROBUST_MODES = ("erm", "erm_aug", "dual_loop", "dual_loop_exact")
_EXACT_CHECKPOINTING = (
    "robust_mode='dual_loop_exact' does not support gradient checkpointing: it evaluates the model at the "
    "adapted parameters through torch.func.functional_call, and a checkpointed block would recompute its "
    "forward at the original parameters during backward (a wrong meta-gradient). The exact mode is a "
    "reference for small models: turn activation_checkpointing (gradient_checkpointing) off, or use robust_mode='dual_loop'."
)


@dataclass
class DualLoopConfig(TrainingArguments):
    """Training arguments of `DualLoopTrainer`.

    `robust_mode` picks the update: ``erm`` (high-quality views only), ``erm_aug`` (both views mixed in one
    batch, no bi-level step: the strong baseline), ``dual_loop`` (default: the cheap sequential
    approximation of the dual-loop meta-gradient) or ``dual_loop_exact`` (second-order reference through
    double backward, for small models). See `docs/training.md` for the objective and its derivation.
    """

    robust_mode: str = field(
        default="dual_loop",
        metadata={"help": f"Update rule, one of {ROBUST_MODES}.", "choices": list(ROBUST_MODES)},
    )
    inner_lr: float = field(
        default=1e-2,
        metadata={"help": "α: size of the inner (virtual) step θ − α g_in of the objective J."},
    )
    outer_weight: float = field(
        default=1.0,
        metadata={"help": "β: weight of the outer losses L_out(θ − α g_in) in J."},
    )
    consistency_weight: float = field(
        default=0.0,
        metadata={"help": "λ: weight of the gradient-consistency penalty C(g_hq, g_lq) in J."},
    )
    consistency_form: str = field(
        default="dot",
        metadata={
            "help": "Consistency penalty: 'dot' (−⟨g_hq, g_lq⟩, all modes) or 'cosine' (1 − cos, "
            "dual_loop_exact only).",
            "choices": list(CONSISTENCY_FORMS),
        },
    )
    cycle: str = field(
        default="both",
        metadata={
            "help": "Direction of the inner/outer loops: 'hq_to_lq', 'lq_to_hq' or 'both' (the dual cycle; "
            "the cheap mode alternates the order every optimizer step).",
            "choices": list(CYCLES),
        },
    )
    meta_params: str | None = field(
        default=None,
        metadata={
            "help": "Regular expression on parameter names that take part in the inner step (default: every "
            "trainable parameter; with PEFT only the adapters are trainable). Others get plain gradients."
        },
    )
    track_grad_cosine: bool = field(
        default=False,
        metadata={
            "help": "erm_aug only: take the two views in separate passes to log grad_cosine (dual_loop "
            "always logs it). Off by default so that the baseline runs as one mixed batch."
        },
    )
    predict_with_generate: bool = field(
        default=True,
        metadata={"help": "Generate reports during evaluation so that compute_metrics scores text."},
    )
    generation_max_new_tokens: int = field(
        default=128, metadata={"help": "max_new_tokens used when generating during evaluation."}
    )
    generation_num_beams: int = field(default=1, metadata={"help": "num_beams during evaluation."})

    def __post_init__(self):
        if self.robust_mode not in ROBUST_MODES:
            raise ValueError(f"robust_mode must be one of {ROBUST_MODES}, got {self.robust_mode!r}")
        if self.cycle not in CYCLES:
            raise ValueError(f"cycle must be one of {CYCLES}, got {self.cycle!r}")
        if self.consistency_form not in CONSISTENCY_FORMS:
            raise ValueError(
                f"consistency_form must be one of {CONSISTENCY_FORMS}, got {self.consistency_form!r}"
            )
        for name in ("inner_lr", "outer_weight", "consistency_weight"):
            value = getattr(self, name)
            if not value >= 0.0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.robust_mode == "dual_loop" and self.consistency_form == "cosine" and self.consistency_weight:
            raise ValueError(
                "consistency_form='cosine' needs second-order terms the cheap 'dual_loop' mode does not "
                "compute; use consistency_form='dot' or robust_mode='dual_loop_exact'."
            )
        # Checked before TrainingArguments resolves `gradient_checkpointing`, the deprecated alias: read both names.
        checkpointing = getattr(self, "activation_checkpointing", None) or self.gradient_checkpointing
        if self.robust_mode == "dual_loop_exact" and checkpointing:
            raise ValueError(_EXACT_CHECKPOINTING)
        if self.meta_params is not None:
            import re

            try:
                re.compile(self.meta_params)
            except re.error as error:
                raise ValueError(f"meta_params is not a valid regular expression: {error}") from error
        if self.generation_max_new_tokens < 1 or self.generation_num_beams < 1:
            raise ValueError("generation_max_new_tokens and generation_num_beams must be >= 1")
        # The paired views live in extra columns (e.g. `lq_pixel_values`) the model's forward does not name.
        self.remove_unused_columns = False
        super().__post_init__()
