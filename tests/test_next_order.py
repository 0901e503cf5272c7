"""Page's ridges beyond leading order (dynamics.theory.next_order), from the exact equilibrium."""

import numpy as np
import pytest

from dynamics.theory.next_order import epoch_diffusion, ridge_beyond_leading_order

OMS = [0.025, 0.05, 0.1, 0.2]


@pytest.mark.parametrize("rule", ["sgd", "heavy-ball", "nesterov"])
def test_lr_times_wd_stays_exact_and_the_leading_order_is_page_s_invariant(rule):
    rho = 0.0 if rule == "sgd" else 0.9
    # (λ, α) → (r² λ, α/r²) leaves the exact D unchanged: λα is the exact symmetry
    assert epoch_diffusion(rule, 0.4, 5e-4, rho) == pytest.approx(epoch_diffusion(rule, 0.1, 2e-3, rho), rel=1e-12)
    # at small λα the exact D tends to 2λα/(1−ρ)
    exact, leading = (epoch_diffusion(rule, 0.1, 1e-7, rho, exact=e) for e in (True, False))
    assert exact == pytest.approx(leading, rel=1e-5)


def test_the_momentum_ridge_is_page_s_line_at_small_steps_and_bends_below_it_at_the_real_scale():
    _, slope = ridge_beyond_leading_order("nesterov", 1e-7, 0.2, 0.1, OMS)
    assert slope == pytest.approx(1, abs=1e-6)
    lrs, slope = ridge_beyond_leading_order("nesterov", 2e-3, 0.2, 0.1, OMS)
    assert lrs[2] == pytest.approx(0.2)  # through the reference point
    assert 0.995 < slope < 1  # measured 0.9991: far too small to make a slope of +1.4
    assert np.all(np.diff(np.log(lrs)) > 0)
