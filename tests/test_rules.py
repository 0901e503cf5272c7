"""The update rules against torch.optim.SGD and their written-out equations."""

import numpy as np
import pytest
import sympy as sp
import torch

from dynamics.rules import ADAPTIVE, ORTHOGONAL, RULES, decoupled, initial_state, stepper, torch_sgd_kwargs
from training.optim import Lion, make_optimizer

STEPS = 6


@pytest.mark.parametrize("rule", ["sgd", "heavy-ball", "nesterov"])
@pytest.mark.parametrize("lr,wd,momentum", [(0.1, 5e-4, 0.9), (0.37, 1e-2, 0.5)])
def test_coupled_rules_match_torch_sgd(rule, lr, wd, momentum):
    gen = torch.Generator().manual_seed(1)
    w0 = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    grads = [torch.randn(7, 5, generator=gen, dtype=torch.float64) for _ in range(STEPS)]
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([p], **torch_sgd_kwargs(rule, lr, wd, momentum))
    w, v = w0.clone(), torch.zeros_like(w0)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        w, v = RULES[rule](w, v, g, lr, wd, momentum)
        torch.testing.assert_close(w, p.detach(), rtol=0, atol=1e-10)


def test_decoupled_rule_matches_its_equations():
    rng = np.random.default_rng(2)
    lr, wd, rho = 0.2, 3e-3, 0.8
    w, v = rng.normal(size=9), np.zeros(9)
    w_ref, v_ref = w.copy(), v.copy()
    for _ in range(STEPS):
        g = rng.normal(size=9)
        w, v = decoupled(w, v, g, lr, wd, rho)
        v_ref = rho * v_ref + g
        w_ref = (1 - lr * wd) * w_ref - lr * v_ref
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule", [r for r in RULES if r not in ADAPTIVE + ORTHOGONAL])
def test_rules_accept_sympy_numpy_and_torch(rule):
    sym = RULES[rule](*sp.symbols("w v g lambda alpha rho"))
    assert all(isinstance(e, sp.Expr) for e in sym)
    num = RULES[rule](np.ones(3), np.zeros(3), np.ones(3), 0.1, 0.01, 0.9)
    ten = RULES[rule](torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                      torch.ones(3, dtype=torch.float64), 0.1, 0.01, 0.9)
    np.testing.assert_allclose(num[0], ten[0].numpy())
    np.testing.assert_allclose(num[1], ten[1].numpy())


def test_broadcasting_advances_many_settings_at_once():
    w, v, g = torch.ones(3, 4), torch.zeros(3, 4), torch.ones(3, 4)
    lr = torch.tensor([[0.1], [0.2], [0.3]])
    w1, _ = RULES["heavy-ball"](w, v, g, lr, 0.0, 0.9)
    torch.testing.assert_close(w1[:, 0], 1 - lr[:, 0])


# ------------------------------------------------------------------ adaptive rules
@pytest.mark.parametrize("rule,cls", [("adamw", torch.optim.AdamW), ("adam-l2", torch.optim.Adam)])
@pytest.mark.parametrize("lr,wd,beta1,beta2,eps", [(1e-3, 1e-2, 0.9, 0.999, 1e-8),
                                                   (3e-2, 0.3, 0.0, 0.95, 1e-3),
                                                   (0.2, 5e-4, 0.5, 0.0, 1e-6)])
def test_adam_rules_match_torch_optim(rule, cls, lr, wd, beta1, beta2, eps):
    gen = torch.Generator().manual_seed(3)
    w0 = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    grads = [torch.randn(7, 5, generator=gen, dtype=torch.float64) for _ in range(STEPS)]
    p = torch.nn.Parameter(w0.clone())
    opt = cls([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    assert type(make_optimizer(rule, [torch.nn.Parameter(w0.clone())], lr, wd, beta1, beta2, eps)) is cls
    step = stepper(rule, beta2, eps)
    w = w0.clone()
    v = initial_state(rule, w)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        w, v = step(w, v, g, lr, wd, beta1)
        torch.testing.assert_close(w, p.detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(v[0], opt.state[p]["exp_avg"], rtol=0, atol=1e-10)
        torch.testing.assert_close(v[1], opt.state[p]["exp_avg_sq"], rtol=0, atol=1e-10)


def test_adamw_and_adam_l2_differ_only_by_where_the_decay_enters():
    w, g = np.array([2.0, -1.0]), np.array([0.5, 0.25])
    wa, _ = stepper("adamw")(w, initial_state("adamw", w), g, 0.1, 0.5, 0.9)
    wl, _ = stepper("adam-l2")(w, initial_state("adam-l2", w), g, 0.1, 0.5, 0.9)
    # first step: update = λ sign(d) (bias-corrected m/√s = d/|d|); AdamW: (1 − λα) w − λ sign(g)
    np.testing.assert_allclose(wa, (1 - 0.05) * w - 0.1 * np.sign(g), atol=1e-6)
    np.testing.assert_allclose(wl, w - 0.1 * np.sign(g + 0.5 * w), atol=1e-6)


@pytest.mark.parametrize("lr,wd,beta1,beta2", [(1e-3, 0.1, 0.9, 0.99), (0.05, 1.0, 0.0, 0.9)])
def test_lion_rule_and_optimizer_follow_the_papers_algorithm(lr, wd, beta1, beta2):
    """Chen et al. (2023), Program 1, written out line by line."""
    rng = np.random.default_rng(4)
    w_ref = rng.normal(size=(6, 3))
    m_ref = np.zeros_like(w_ref)
    w, v = w_ref.copy(), initial_state("lion", w_ref)
    p = torch.nn.Parameter(torch.tensor(w_ref))
    opt = Lion([p], lr=lr, betas=(beta1, beta2), weight_decay=wd)
    for _ in range(STEPS):
        g = rng.normal(size=w_ref.shape)
        update = beta1 * m_ref + (1 - beta1) * g      # interp(grad, m, beta1)
        update = np.sign(update)
        w_ref = w_ref * (1 - lr * wd)                 # decoupled weight decay
        w_ref = w_ref - lr * update
        m_ref = beta2 * m_ref + (1 - beta2) * g       # update the moving average
        w, v = stepper("lion", beta2)(w, v, g, lr, wd, beta1)
        p.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v[0], m_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(p.detach().numpy(), w_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule", ADAPTIVE)
def test_adaptive_rules_accept_numpy_and_torch_and_broadcast(rule):
    w = np.linspace(-1, 1, 12).reshape(3, 4)
    g = np.cos(np.arange(12.0)).reshape(3, 4)
    lr = np.array([[0.1], [0.2], [0.3]])
    num, _ = stepper(rule)(w, initial_state(rule, w), g, lr, 0.01, 0.9)
    tw = torch.tensor(w)
    ten, _ = stepper(rule)(tw, initial_state(rule, tw), torch.tensor(g), torch.tensor(lr), 0.01, 0.9)
    np.testing.assert_allclose(num, ten.numpy(), atol=1e-14)
    row, _ = stepper(rule)(w[1], initial_state(rule, w[1]), g[1], 0.2, 0.01, 0.9)
    np.testing.assert_allclose(num[1], row, atol=1e-14)


def test_adam_with_decoupled_weight_decay_is_the_adamw_rule():
    """torch.optim.Adam(decoupled_weight_decay=True), the issue's eighth optimiser, applies
    exactly the adamw rule: it is not a rule of its own."""
    gen = torch.Generator().manual_seed(5)
    w0 = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    p = torch.nn.Parameter(w0.clone())
    opt = torch.optim.Adam([p], lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.4, decoupled_weight_decay=True)
    step, w = stepper("adamw", 0.95, 1e-6), w0.clone()
    v = initial_state("adamw", w)
    for _ in range(STEPS):
        g = torch.randn(6, 4, generator=gen, dtype=torch.float64)
        p.grad = g.clone()
        opt.step()
        w, v = step(w, v, g, 3e-2, 0.4, 0.8)
        torch.testing.assert_close(w, p.detach(), rtol=0, atol=1e-10)
