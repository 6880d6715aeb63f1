"""Pure dual-loop maths against hand-computed values on a two-parameter quadratic model."""

from __future__ import annotations

import pytest
import torch

from lrrg.trainer.dual_loop_math import (
    consistency_penalty,
    cycle_order,
    first_order_meta_gradient,
    grad_cosine,
    grad_dot,
    meta_objective,
    sequential_plan,
    sequential_update,
    virtual_step,
)

# L_h(θ) = ½ θᵀ A_h θ − b_hᵀ θ and L_l likewise: g = Aθ − b, H = A (all by hand below).
A_H = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
B_H = torch.tensor([1.0, 0.0], dtype=torch.float64)
A_L = torch.tensor([[1.0, 0.5], [0.5, 3.0]], dtype=torch.float64)
B_L = torch.tensor([0.0, 1.0], dtype=torch.float64)
THETA = torch.tensor([1.0, 2.0], dtype=torch.float64)


def _quadratic(a, b):
    return lambda params: 0.5 * params[0] @ a @ params[0] - b @ params[0]


LOSSES = {"hq": _quadratic(A_H, B_H), "lq": _quadratic(A_L, B_L)}


def _theta():
    return [THETA.clone().requires_grad_(True)]


def test_grad_dot_cosine_and_penalty_hand_values():
    a = [torch.tensor([3.0, 4.0]), torch.tensor([0.0])]
    b = [torch.tensor([4.0, 3.0]), torch.tensor([0.0])]
    assert grad_dot(a, b).item() == pytest.approx(24.0)
    assert grad_cosine(a, b).item() == pytest.approx(24.0 / 25.0)
    assert consistency_penalty(a, b, "dot").item() == pytest.approx(-24.0)
    assert consistency_penalty(a, b, "cosine").item() == pytest.approx(1.0 / 25.0)
    assert grad_cosine(a, [torch.zeros(2), torch.zeros(1)]).item() == 0.0
    with pytest.raises(ValueError, match="consistency form"):
        consistency_penalty(a, b, "l3")


def test_virtual_step_hand_values():
    # g_h(θ) = A_h θ − b_h = [2·1 − 1, 2] = [1, 2]; θ − 0.1 g_h = [0.9, 1.8]
    params = _theta()
    (g_h,) = torch.autograd.grad(LOSSES["hq"](params), params)
    assert torch.allclose(g_h, torch.tensor([1.0, 2.0], dtype=torch.float64))
    (moved,) = virtual_step(params, [g_h], 0.1)
    assert torch.allclose(moved, torch.tensor([0.9, 1.8], dtype=torch.float64))


def test_sequential_plan_coefficients_and_cycle():
    plan = sequential_plan("both", step=0, inner_lr=0.1, outer_weight=1.0, consistency_weight=0.05)
    # κ = αβ + λ = 0.15, w = ½(1 + β) = 1, γ = 2κ / w = 0.3; hq goes first on even steps
    assert (plan.first, plan.second) == ("hq", "lq")
    assert plan.w_first == plan.w_second == pytest.approx(1.0)
    assert plan.step_size == pytest.approx(0.3)
    assert cycle_order("both", 1) == ("lq", "hq")
    single = sequential_plan("hq_to_lq", step=1, inner_lr=0.1, outer_weight=1.0)
    # w_in = ½, w_out = ½ + β = 1.5, γ = κ / w_out = 0.1 / 1.5
    assert (single.first, single.w_first, single.w_second) == ("hq", 0.5, 1.5)
    assert single.step_size == pytest.approx(0.1 / 1.5)
    erm_like = sequential_plan("both", step=0, inner_lr=0.3, outer_weight=0.0)
    assert (erm_like.w_first, erm_like.w_second, erm_like.step_size) == (0.5, 0.5, 0.0)


def test_sequential_update_hand_values():
    # order hq→lq, α = 0.1, β = 1: γ = 0.2, w = 1.
    # g_h = [1, 2]; θ' = θ − 0.2 g_h = [0.8, 1.6]; g_l(θ') = A_l θ' − b_l = [0.8 + 0.8, 0.4 + 4.8 − 1] = [1.6, 4.2]
    plan = sequential_plan("both", 0, 0.1, 1.0)
    update, parts = sequential_update(_theta(), LOSSES, plan)
    assert torch.allclose(update[0], torch.tensor([2.6, 6.2], dtype=torch.float64))
    assert parts["loss_hq"].item() == pytest.approx(0.5 * (2 + 4) - 1)


def test_exact_meta_gradient_hand_values():
    # J = ½(L_h + L_l) + β·½[L_l(θ − α g_h) + L_h(θ − α g_l)]; ∇ of L_out(θ − α g_in) = (I − α A_in) g_out(θ − α g_in)
    alpha, beta = 0.1, 1.0
    params = _theta()
    objective, parts = meta_objective(params, LOSSES, alpha, beta)
    (grad,) = torch.autograd.grad(objective, params)
    eye = torch.eye(2, dtype=torch.float64)
    g_h = A_H @ THETA - B_H
    g_l = A_L @ THETA - B_L
    outer_hl = (eye - alpha * A_H) @ (A_L @ (THETA - alpha * g_h) - B_L)
    outer_lh = (eye - alpha * A_L) @ (A_H @ (THETA - alpha * g_l) - B_H)
    expected = 0.5 * (g_h + g_l) + beta * 0.5 * (outer_hl + outer_lh)
    assert torch.allclose(grad, expected)
    assert parts["grad_cosine"].item() == pytest.approx((g_h @ g_l / (g_h.norm() * g_l.norm())).item())


def test_exact_consistency_term_adds_its_gradient():
    # C = −⟨g_h, g_l⟩ with g = Aθ − b: ∇C = −(A_h g_l + A_l g_h)
    params = _theta()
    objective, _ = meta_objective(params, LOSSES, 0.0, 0.0, consistency_weight=1.0, consistency_form="dot")
    (grad,) = torch.autograd.grad(objective, params)
    g_h, g_l = A_H @ THETA - B_H, A_L @ THETA - B_L
    expected = 0.5 * (g_h + g_l) - (A_H @ g_l + A_L @ g_h)
    assert torch.allclose(grad, expected)


def test_cycle_average_of_sequential_equals_first_order_gradient():
    # On a quadratic the gradient is linear in θ, so the two-order average equals the first-order ∇J
    # exactly: −κ(A_h g_l + A_l g_h) comes from the displaced second passes.
    for alpha in (0.04, 0.01):
        updates = [sequential_update(_theta(), LOSSES, sequential_plan("both", s, alpha, 1.0))[0][0] for s in (0, 1)]
        average = 0.5 * (updates[0] + updates[1])
        g_h, g_l = A_H @ THETA - B_H, A_L @ THETA - B_L
        (first,) = first_order_meta_gradient([g_h], [g_l], [A_H @ g_l], [A_L @ g_h], alpha, 1.0)
        erm = g_h + g_l  # ½(1 + β)(g_h + g_l) with β = 1
        assert torch.allclose(average, first)
        assert not torch.allclose(average, erm)  # the alignment term is really there
