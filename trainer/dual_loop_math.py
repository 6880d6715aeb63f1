"""Pure dual-loop maths: virtual steps, gradient agreement, sequential coefficients, the exact meta-objective.

Notation (see `docs/training.md`). For a paired batch (B_hq, B_lq) with losses L_h, L_l and gradients
g_h = ∇L_h(θ), g_l = ∇L_l(θ), Hessians H_h, H_l, the dual-loop objective is

    J(θ) = ½[L_h(θ) + L_l(θ)] + β · mean_{d ∈ D} L_out(d)(θ − α g_in(d)) + λ · C(g_h, g_l)

where D is the set of directions of the cycle (``hq_to_lq``: in = hq, out = lq; ``lq_to_hq``; ``both``)
and C is the consistency penalty (``dot``: −⟨g_h, g_l⟩; ``cosine``: 1 − cos(g_h, g_l)).

First-order expansion. L_out(θ − α g_in) = L_out(θ) − α⟨g_in, g_out⟩ + O(α²) for either direction, so

    ∇J(θ) = ½(g_h + g_l) + β · mean_d g_out(d) − κ (H_h g_l + H_l g_h) + O(α²),   κ = αβ + λ  (dot form)

(H_h g_l + H_l g_h = ∇⟨g_h, g_l⟩: the update rewards directions on which the regimes agree).

The cheap sequential scheme (``dual_loop``). Two passes, as many as `erm_aug` needs for the same samples:
pass 1 takes the gradient of the *first* regime at θ; the parameters move by the virtual step
θ' = θ − γ g_first; pass 2 takes the gradient of the *second* regime at θ'. Both gradients are kept,
weighted (w_1, w_2), and the optimizer is applied at θ:

    G = w_1 g_first(θ) + w_2 g_second(θ') = w_1 g_first + w_2 g_second − w_2 γ H_second g_first + O(γ²).

The displacement turns the second pass into a Hessian-vector product for free (Reptile / Fish). One
order gives only H_second g_first; the dual cycle alternates the order every optimizer step, so two
consecutive steps carry H_l g_h and H_h g_l: with w_1 = w_2 = ½(1 + β) and γ = 2κ / w_2 the average
of the two orders equals ∇J to first order in α (exactly the −κ∇⟨g_h, g_l⟩ term). A single direction
(``hq_to_lq`` / ``lq_to_hq``) uses w_in = ½, w_out = ½ + β and γ = κ / w_out: the first-order MLDG
approximation, which drops the term through the inner gradient (H_in g_out); only ``both`` cancels it.
With β = 0 and λ = 0, γ = 0 and the update is exactly the `erm_aug` gradient ½(g_h + g_l).

The exact mode differentiates `meta_objective` with double backward (`create_graph=True`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = [
    "CONSISTENCY_FORMS",
    "CYCLES",
    "SequentialPlan",
    "cycle_order",
    "consistency_penalty",
    "grad_cosine",
    "grad_dot",
    "grad_norm",
    "meta_objective",
    "first_order_meta_gradient",
    "sequential_plan",
    "sequential_update",
    "virtual_step",
]

CYCLES = ("hq_to_lq", "lq_to_hq", "both")
CONSISTENCY_FORMS = ("dot", "cosine")

Tensors = Sequence[torch.Tensor]


def grad_dot(a: Tensors, b: Tensors) -> torch.Tensor:
    """Inner product of two gradients given as matching lists of tensors.

    Args:
        a, b: lists of tensors with matching shapes (one per parameter).

    Returns:
        A 0-dim tensor Σ_i ⟨a_i, b_i⟩ (float32 or wider), differentiable if the inputs are.
    """
    if len(a) != len(b):
        raise ValueError(f"gradient lists differ in length: {len(a)} vs {len(b)}")
    total = None
    for x, y in zip(a, b):
        term = (x.double() if x.dtype == torch.float64 else x.float()).mul(y).sum()
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


def grad_norm(a: Tensors) -> torch.Tensor:
    """Euclidean norm of a gradient given as a list of tensors. Returns a 0-dim tensor."""
    return grad_dot(a, a).clamp_min(0).sqrt()


def grad_cosine(a: Tensors, b: Tensors, eps: float = 1e-12) -> torch.Tensor:
    """Cosine similarity ⟨a, b⟩ / (‖a‖‖b‖) between two gradients; 0 when either is zero.

    Args:
        a, b: lists of tensors with matching shapes.
        eps: floor on the norm product.

    Returns:
        A 0-dim tensor in [-1, 1].
    """
    return grad_dot(a, b) / (grad_norm(a) * grad_norm(b)).clamp_min(eps)


def virtual_step(params: Tensors, grads: Tensors, step_size: float) -> list[torch.Tensor]:
    """The inner (virtual) step θ − γ g, out of place.

    Args:
        params: parameter tensors θ.
        grads: gradient tensors g (same shapes); differentiable if built with `create_graph=True`.
        step_size: γ.

    Returns:
        New tensors θ − γ g (a graph through `grads` is kept).
    """
    return [p - step_size * g for p, g in zip(params, grads)]


def consistency_penalty(g_h: Tensors, g_l: Tensors, form: str = "dot") -> torch.Tensor:
    """The gradient-consistency penalty C(g_h, g_l) (small when the regimes agree).

    Args:
        g_h, g_l: the two regimes' gradients.
        form: ``dot`` (−⟨g_h, g_l⟩) or ``cosine`` (1 − cos(g_h, g_l)).

    Returns:
        A 0-dim tensor.
    """
    if form == "dot":
        return -grad_dot(g_h, g_l)
    if form == "cosine":
        return 1.0 - grad_cosine(g_h, g_l)
    raise ValueError(f"consistency form must be one of {CONSISTENCY_FORMS}, got {form!r}")


def _directions(cycle: str) -> tuple[tuple[str, str], ...]:
    if cycle == "hq_to_lq":
        return (("hq", "lq"),)
    if cycle == "lq_to_hq":
        return (("lq", "hq"),)
    if cycle == "both":
        return (("hq", "lq"), ("lq", "hq"))
    raise ValueError(f"cycle must be one of {CYCLES}, got {cycle!r}")


def meta_objective(
    params: Tensors,
    loss_fns: dict[str, Callable[[Tensors], torch.Tensor]],
    inner_lr: float,
    outer_weight: float,
    consistency_weight: float = 0.0,
    consistency_form: str = "dot",
    cycle: str = "both",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The dual-loop objective J(θ) with its inner steps kept in the graph (for the exact meta-gradient).

    Args:
        params: parameter tensors θ (leaves with `requires_grad=True`).
        loss_fns: ``{"hq": L_h, "lq": L_l}``, each mapping a list of parameter tensors to a scalar loss.
        inner_lr: α. outer_weight: β. consistency_weight: λ. consistency_form: see `consistency_penalty`.
        cycle: ``hq_to_lq``, ``lq_to_hq`` or ``both``.

    Returns:
        (J, parts) where parts holds detached ``loss_hq``, ``loss_lq``, ``outer_loss`` and ``grad_cosine``.
        Differentiating J gives the exact meta-gradient (Hessian-vector products through g_in).
    """
    losses = {regime: fn(params) for regime, fn in loss_fns.items()}
    objective = 0.5 * (losses["hq"] + losses["lq"])
    needs_grads = outer_weight != 0.0 or consistency_weight != 0.0
    parts = {"loss_hq": losses["hq"].detach(), "loss_lq": losses["lq"].detach()}
    if not needs_grads:
        parts["outer_loss"] = torch.zeros_like(parts["loss_hq"])
        return objective, parts
    grads = {}
    for regime, loss in losses.items():
        raw = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        # a parameter the loss does not use (e.g. an unused pooler) has a zero gradient
        grads[regime] = [torch.zeros_like(p) if g is None else g for p, g in zip(params, raw)]
    directions = _directions(cycle)
    outer = sum(
        loss_fns[out](virtual_step(params, grads[inner], inner_lr)) for inner, out in directions
    ) / len(directions)
    objective = objective + outer_weight * outer
    if consistency_weight != 0.0:
        objective = objective + consistency_weight * consistency_penalty(
            grads["hq"], grads["lq"], consistency_form
        )
    parts["outer_loss"] = outer.detach()
    parts["grad_cosine"] = grad_cosine(grads["hq"], grads["lq"]).detach()
    return objective, parts


def first_order_meta_gradient(
    g_h: Tensors,
    g_l: Tensors,
    hvp_h_gl: Tensors,
    hvp_l_gh: Tensors,
    inner_lr: float,
    outer_weight: float,
    consistency_weight: float = 0.0,
    cycle: str = "both",
) -> list[torch.Tensor]:
    """∇J to first order in α (dot consistency): ½(g_h+g_l) + β·mean_d g_out − κ(H_h g_l + H_l g_h).

    Args:
        g_h, g_l: the regimes' gradients at θ.
        hvp_h_gl, hvp_l_gh: Hessian-vector products H_h g_l and H_l g_h.
        inner_lr, outer_weight, consistency_weight, cycle: α, β, λ and the cycle.

    Returns:
        The first-order meta-gradient as a list of tensors.
    """
    kappa = inner_lr * outer_weight + consistency_weight
    outs = [out for _, out in _directions(cycle)]
    w_h = 0.5 + outer_weight * outs.count("hq") / len(outs)
    w_l = 0.5 + outer_weight * outs.count("lq") / len(outs)
    return [
        w_h * gh + w_l * gl - kappa * (a + b) for gh, gl, a, b in zip(g_h, g_l, hvp_h_gl, hvp_l_gh)
    ]


class SequentialPlan(tuple):
    """Coefficients of one sequential step: (first regime, second regime, w_first, w_second, step_size)."""

    __slots__ = ()

    def __new__(cls, first: str, second: str, w_first: float, w_second: float, step_size: float):
        return super().__new__(cls, (first, second, w_first, w_second, step_size))

    first = property(lambda self: self[0])
    second = property(lambda self: self[1])
    w_first = property(lambda self: self[2])
    w_second = property(lambda self: self[3])
    step_size = property(lambda self: self[4])


def cycle_order(cycle: str, step: int) -> tuple[str, str]:
    """Which regime goes first at optimizer step `step`: ``both`` alternates (hq first on even steps).

    Args:
        cycle: ``hq_to_lq``, ``lq_to_hq`` or ``both``.
        step: the optimizer step (``state.global_step``), so resuming keeps the alternation.

    Returns:
        (first, second) regime names.
    """
    directions = _directions(cycle)
    return directions[step % len(directions)]


def sequential_plan(
    cycle: str, step: int, inner_lr: float, outer_weight: float, consistency_weight: float = 0.0
) -> SequentialPlan:
    """Weights and virtual step size of the cheap scheme, matching ∇J to first order (see module doc).

    Args:
        cycle: the cycle. step: the optimizer step (picks the order for ``both``).
        inner_lr, outer_weight, consistency_weight: α, β, λ (dot consistency).

    Returns:
        A `SequentialPlan`. ``both``: w = ½(1+β) for both passes, γ = 2κ/w. Single direction:
        w_in = ½, w_out = ½ + β, γ = κ / w_out (first-order MLDG).
    """
    first, second = cycle_order(cycle, step)
    kappa = inner_lr * outer_weight + consistency_weight
    if cycle == "both":
        w_first = w_second = 0.5 * (1.0 + outer_weight)
        step_size = 2.0 * kappa / w_second
    else:
        w_first, w_second = 0.5, 0.5 + outer_weight
        step_size = kappa / w_second
    return SequentialPlan(first, second, w_first, w_second, step_size)


def sequential_update(
    params: Tensors,
    loss_fns: dict[str, Callable[[Tensors], torch.Tensor]],
    plan: SequentialPlan,
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Functional reference of the cheap sequential step: G = w_1 g_first(θ) + w_2 g_second(θ − γ g_first).

    The trainer performs the same computation in place (`DualLoopTrainer`); this version is for tests.

    Args:
        params: parameter tensors θ (leaves with `requires_grad=True`).
        loss_fns: ``{"hq": L_h, "lq": L_l}``.
        plan: from `sequential_plan`.

    Returns:
        (G, parts) with G a list of tensors and parts the detached first/second losses and grad cosine.
    """
    loss_first = loss_fns[plan.first](params)
    g_first = torch.autograd.grad(loss_first, params)
    adapted = [p.detach().requires_grad_(True) for p in virtual_step(params, g_first, plan.step_size)]
    loss_second = loss_fns[plan.second](adapted)
    g_second = torch.autograd.grad(loss_second, adapted)
    update = [plan.w_first * a + plan.w_second * b for a, b in zip(g_first, g_second)]
    parts = {
        f"loss_{plan.first}": loss_first.detach(),
        f"loss_{plan.second}": loss_second.detach(),
        "grad_cosine": grad_cosine(g_first, g_second),
    }
    return update, parts
