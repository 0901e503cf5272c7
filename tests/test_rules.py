"""The update rules against torch.optim.SGD and their written-out equations."""

import numpy as np
import pytest
import sympy as sp
import torch

from dynamics.rules import RULES, decoupled, torch_sgd_kwargs

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


@pytest.mark.parametrize("rule", list(RULES))
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
