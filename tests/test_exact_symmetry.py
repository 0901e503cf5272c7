"""Exact-symmetry mode: runs along λα related by r = 2 are one run, rescaled.

For the scale-invariant conv weights, (w, λ, α) → (r w, r² λ, α/r²) maps training onto
itself once nothing else moves: ``--exact-symmetry`` starts them at (λ/λ₀)^(1/2) |w₀| and
holds the tensors without the symmetry at (λ₀, α₀). With r = 2 every product by r is exact
in floating point, so the only breaker left is BatchNorm's ε: with an ε below float32's
resolution of the variances (1e-30; torch refuses 0) the two runs are the same run to the
last bit; a run without the control is not.
"""

import functools

import pytest
import torch
from torch import nn

from dynamics.util.errors import RidgelineError
from test_train import tiny_config
from training import train
from training.config import from_options, initial_scale
from training.model import scale_invariant

REF = "lr=0.1,wd=0.002"
STEPS = 5


def first_steps(tmp_path, name: str, **fields) -> list[dict[str, torch.Tensor]]:
    """Every parameter after each of the first STEPS steps of a tiny ResNet-9 run."""
    base = tiny_config(tmp_path, out=str(tmp_path / name), epochs=2)
    config = from_options(**{**{k: getattr(base, k) for k in ("data", "width", "batch_size", "epochs",
                                                             "log_every", "device", "out")}, **fields})
    seen: list[dict] = []

    def snapshot(step, model, optimizer):
        if step <= STEPS:
            seen.append({n: p.detach().clone() for n, p in model.named_parameters()})

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors; restored so later tests keep their reduction order
    try:
        train(config, verbose=False, on_step=snapshot)
    finally:
        torch.set_num_threads(threads)
    return seen, config


def norms_ratio_and_rest(a, b, flags):
    ratios = [float(b[n].norm() / a[n].norm()) for n in a if flags[n]]
    rest = max(float((b[n] - a[n]).abs().max() / a[n].abs().max()) for n in a if not flags[n])
    return ratios, rest


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import training.model

    tmp = tmp_path_factory.mktemp("symmetry")
    patch = pytest.MonkeyPatch()  # BatchNorm without its ε: the one breaker the control cannot remove
    patch.setattr(training.model.nn, "BatchNorm2d", functools.partial(nn.BatchNorm2d, eps=1e-30))
    request_finalizer = patch.undo
    a, ca = first_steps(tmp, "a", lr=0.1, wd=2e-3, exact_symmetry=True, symmetry_ref=REF)
    b, cb = first_steps(tmp, "b", lr=0.4, wd=5e-4, exact_symmetry=True, symmetry_ref=REF)
    c, _ = first_steps(tmp, "c", lr=0.4, wd=5e-4)  # the same (λ, α) without the control
    from training.model import ResNet9

    flags = scale_invariant(ResNet9(ca.width))
    request_finalizer()
    return a, b, c, flags, ca, cb


def test_the_control_sets_init_scale_and_holds_the_other_tensors(runs):
    *_, ca, cb = runs
    assert (cb.init_scale, cb.symmetry_ref, cb.other_lr, cb.other_wd) == ("follow", REF, 0.1, 0.002)
    assert initial_scale(ca) == 1.0 and initial_scale(cb) == 2.0  # (0.4 / 0.1)^(1/2), derived


def test_runs_related_by_r_2_are_one_run_rescaled(runs):
    a, b, _, flags, *_ = runs
    assert sum(flags.values()) == 8
    for step, (sa, sb) in enumerate(zip(a, b), 1):
        ratios, rest = norms_ratio_and_rest(sa, sb, flags)
        assert max(abs(r - 2) for r in ratios) < 1e-6, (step, ratios)
        assert rest == 0, (step, rest)  # BN scales and shifts, the classifier: the same bits


def test_without_the_control_the_symmetry_breaks(runs):
    a, _, c, flags, *_ = runs
    ratios, rest = norms_ratio_and_rest(a[-1], c[-1], flags)
    assert max(abs(r - 2) for r in ratios) > 0.3  # |w₀| did not follow λ
    assert rest > 1e-2  # BN scales and shifts, the classifier, moved at λ = 0.4


@pytest.mark.parametrize("fields,message", [
    (dict(exact_symmetry=True), "needs its reference point"),
    (dict(exact_symmetry=True, symmetry_ref=REF, other_lr=0.2), "sets --other-lr itself"),
    (dict(init_scale="follow"), "'follow' with symmetry_ref"),
    (dict(init_scale="follow", symmetry_ref="lr=0.1"), "symmetry_ref must be lr=LR,wd=WD"),
    (dict(init_scale="follow", symmetry_ref="lr=-1,wd=1e-3"), "symmetry_ref must be"),
])
def test_bad_symmetry_settings_are_one_line_errors(tmp_path, fields, message):
    with pytest.raises(RidgelineError, match=message):
        from_options(data="x.npz", **fields)


def test_a_sweep_centres_the_control_on_its_grid_and_records_it():
    from training.search.objectives import make_objective
    from training.search.sweep import SweepConfig, _centred, grid_trials, parse_axis

    config = SweepConfig(objective="train", x=parse_axis("lr=0.025:0.8:6", "--x"),
                         y=parse_axis("wd=1e-3:8e-3:4", "--y"), out="unused",
                         options=("--exact-symmetry", "--data", "x.npz"))
    options = _centred(config)
    objective = make_objective("train", list(options))
    trials = grid_trials(config, objective)
    lr0, wd0 = (0.025 * 0.8) ** 0.5, (1e-3 * 8e-3) ** 0.5  # the geometric middle of each axis
    for t in trials:
        assert t.config["init_scale"] == "follow"
        assert t.config["other_lr"] == pytest.approx(lr0, rel=1e-9)
        assert t.config["other_wd"] == pytest.approx(wd0, rel=1e-9)
    keys = {t.key for t in trials}
    plain = make_objective("train", ["--data", "x.npz"])
    assert not keys & {t.key for t in grid_trials(config, plain)}  # never mixed with the real sweep's records
    given = _centred(SweepConfig(objective="train", x=config.x, y=config.y, out="unused",
                                 options=("--init-scale", "follow", "--symmetry-ref", "lr=0.1,wd=0.002")))
    assert given.count("--symmetry-ref") == 1  # a reference given is kept


@pytest.mark.parametrize("rule,exponent", [("nesterov", 0.5), ("heavy-ball", 0.5), ("adamw", 1), ("lion", 1),
                                           ("muon", 1)])
def test_the_init_exponent_is_derived_for_every_family(rule, exponent):
    from dynamics.theory.dispatch import init_follow_exponent

    assert float(init_follow_exponent(rule)) == exponent  # a/b of the rule's rescaling exponents
