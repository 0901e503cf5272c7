"""The configuration of one training run, and the two conversions it needs.

:class:`TrainConfig` holds every choice of a run; its defaults are Page's
(Page, "How to Train Your ResNet", parts 4-5): batch 512, Nesterov momentum 0.9,
weight decay 5e-4, peak learning rate 0.4, 24 epochs, piecewise linear schedule.

:func:`sgd_arguments` is the one place where Page's hyperparameters become
``torch.optim.SGD`` arguments; :func:`lr_at` is the learning-rate schedule.
No torch import here, so the sweep and report helpers can build configs cheaply.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Literal, Optional, Union

from dynamics.util.errors import RidgelineError

SCHEDULES = ("piecewise", "constant")  # lr schedules of lr_at: Page's 0 → λ → 0, or warm-up then λ
#: which tensors get the weight decay α: every one, or only the scale-invariant conv weights
#: (training.model.scale_invariant); the others (BN scales and shifts, the classifier) get 0
WD_ON = ("all", "scale-invariant")

SEED_EPOCHS = 24  # Page's run length, epochs
SEED_WARMUP_EPOCHS = 5  # Page's warm-up, epochs out of SEED_EPOCHS


@dataclass(frozen=True)
class TrainConfig:
    """One training run of Page's ResNet-9 on CIFAR-10. Plain types only."""

    # data
    data: Optional[str] = None  # .npz file or torchvision root dir; None -> $RIDGELINE_DATA, then cache_dir
    download: bool = False  # let torchvision download CIFAR-10 (170 MB) into cache_dir
    cache_dir: str = "~/.cache/ridgeline"  # torchvision root used when data is None and $RIDGELINE_DATA unset
    train_size: Optional[int] = None  # training examples used, images; None = all left after holdout
    holdout: int = 0  # training images held out for validation (val_* columns); 0 = none, the test set only
    # optimisation, on the MEAN loss over a batch (see sgd_arguments)
    epochs: int = 24  # passes over the training subset
    batch_size: int = 512  # N, images per step
    lr: float = 0.4  # λ, peak learning rate, per step
    wd: float = 5e-4  # α, weight decay coefficient (coupled, added to the gradient), per step
    wd_on: str = "all"  # "all": α on every tensor; "scale-invariant": α on the conv weights only, 0 elsewhere
    other_lr: Optional[float] = None  # peak λ of the tensors without the symmetry (BN, classifier); None = lr
    other_wd: Optional[float] = None  # α of those tensors; None = wd (0 with wd_on="scale-invariant")
    #: multiplies the scale-invariant conv weights at initialisation (same function, |w₀| × this);
    #: "follow": (λ/λ₀)^e with λ₀ from symmetry_ref, e derived from the rule (initial_scale)
    init_scale: Union[float, Literal["follow"]] = 1.0
    symmetry_ref: Optional[str] = None  # "lr=λ₀,wd=α₀": the reference point of init_scale "follow"
    momentum: float = 0.9  # ρ (SGD, Muon) or β₁ (adamw, adam, lion): the first-moment coefficient, dimensionless
    nesterov: bool = True  # Nesterov momentum (torch.optim.SGD / torch.optim.Muon nesterov=True); SGD and Muon
    optimizer: str = "sgd"  # sgd | adamw | adam (Adam with L2 decay) | lion | muon (training.optim)
    adjust_lr: str = "original"  # Muon's lr factor s(A, B): original √max(1, A/B) | match_rms_adamw 0.2√max(A, B)
    beta2: Optional[float] = None  # β₂ of adamw/adam/lion; None = 0.999 (Adam), 0.99 (Lion)
    eps: float = 1e-8  # ε of adamw/adam, added to √s
    schedule: str = "piecewise"  # "piecewise": 0 -> lr over warm-up, then linear -> 0; "constant": warm-up then lr
    warmup_epochs: Optional[float] = None  # linear warm-up length, epochs; None = Page's 5/24 of the run
    # model and augmentation
    width: float = 1.0  # channel multiplier of every layer (1 = Page's 64-128-256-512)
    cutout: bool = False  # 8x8 cutout augmentation (off in Page's part 5 network)
    # machinery
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda" or "cuda:N"
    compile: bool = False  # torch.compile the model (CUDA mostly; slow start-up)
    seed: int = 0  # initialisation, shuffling and augmentation; the data split uses a fixed seed 0
    log_every: int = 10  # norm logging interval, steps (norms.csv: one row per tensor per logged step)
    per_channel: bool = False  # also log every output channel of conv/linear weights (norms_per_channel.csv)
    tensorboard: bool = False  # also write TensorBoard scalars under out/tensorboard (extra ridgeline[tensorboard])
    out: Optional[str] = None  # run directory; None = write nothing (in-memory run)

    @property
    def rule(self) -> str:
        """The update rule of :mod:`dynamics.rules` that the optimiser applies."""
        if self.optimizer != "sgd":
            return OPTIMIZERS.get(self.optimizer, self.optimizer)
        return rule_name(self.momentum, self.nesterov)

    @property
    def warmup(self) -> float:
        """Warm-up length, epochs (Page's 5 of 24, scaled to the run, when unset)."""
        if self.warmup_epochs is not None:
            return float(self.warmup_epochs)
        return self.epochs * SEED_WARMUP_EPOCHS / SEED_EPOCHS

    def to_dict(self) -> dict:
        """All fields plus the derived rule name, as written to config.json."""
        return {**dataclasses.asdict(self), "rule": self.rule}

    def optimizer_arguments(self) -> dict:
        """(rule, lr, wd, momentum, beta2, eps) for :func:`training.optim.make_optimizer`."""
        extra = dict(nesterov=self.nesterov, adjust_lr=self.adjust_lr) if self.optimizer == "muon" else {}
        return dict(rule=self.rule, lr=self.lr, wd=self.wd, momentum=self.momentum,
                    beta2=self.beta2, eps=self.eps, **extra)


#: ``--optimizer`` names and the rules of :mod:`dynamics.rules` they apply (sgd: by ρ, nesterov)
OPTIMIZERS = {"sgd": None, "adamw": "adamw", "adam": "adam-l2", "lion": "lion", "muon": "muon"}
MUON_MOMENTUM = 0.95  # torch.optim.Muon's default ρ


def from_options(optimizer: str = "sgd", momentum: Optional[float] = None, nesterov: Optional[bool] = None,
                 beta1: Optional[float] = None, beta2: Optional[float] = None, eps: Optional[float] = None,
                 adjust_lr: Optional[str] = None, exact_symmetry: bool = False, **fields) -> "TrainConfig":
    """The TrainConfig of ``ridgeline train`` options, None meaning "not given".

    SGD takes ``--momentum``/``--nesterov``; adamw, adam and lion take ``--beta1`` (stored
    as ``momentum``, the first-moment coefficient), ``--beta2`` and ``--eps``; muon takes
    ``--momentum`` (default 0.95, torch's), ``--nesterov`` and ``--adjust-lr``. A flag of
    another family is refused with a one-line error, then :func:`check` runs.
    ``exact_symmetry`` sets the fields of :func:`exact_symmetry_fields` about ``symmetry_ref``.
    """
    if exact_symmetry:
        if fields.get("symmetry_ref") is None:
            raise RidgelineError("--exact-symmetry needs its reference point: --symmetry-ref lr=LR,wd=WD")
        clash = [f"--{k.replace('_', '-')}" for k in ("other_lr", "other_wd") if fields.get(k) is not None]
        clash += ["--init-scale"] if fields.get("init_scale", "follow") not in (1.0, "follow") else []
        if clash:
            raise RidgelineError(f"--exact-symmetry sets {', '.join(clash)} itself (to the reference point); drop "
                                 f"{'it' if len(clash) == 1 else 'them'}")
        fields |= exact_symmetry_fields(*parse_symmetry_ref(fields["symmetry_ref"]))
    if optimizer not in OPTIMIZERS:
        raise RidgelineError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    if adjust_lr is not None and optimizer != "muon":
        raise RidgelineError("--adjust-lr applies to --optimizer muon only")
    if optimizer == "muon":
        if eps is not None:
            raise RidgelineError("--eps has no meaning for --optimizer muon: its update NS(u) divides by no "
                                 "second moment (torch's fixed 1e-7 only guards a zero buffer); leave --eps out")
        given = [f"--{n}" for n, v in (("beta1", beta1), ("beta2", beta2)) if v is not None]
        if given:
            raise RidgelineError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to adamw, adam or "
                                 "lion; Muon takes --momentum and --nesterov")
        config = TrainConfig(optimizer="muon", momentum=MUON_MOMENTUM if momentum is None else momentum,
                             nesterov=True if nesterov is None else nesterov,
                             adjust_lr=adjust_lr or "original", **fields)
    elif optimizer == "sgd":
        given = [f"--{n}" for n, v in (("beta1", beta1), ("beta2", beta2), ("eps", eps)) if v is not None]
        if given:
            raise RidgelineError(f"{', '.join(given)} apply to --optimizer adamw, adam or lion; "
                                 "SGD takes --momentum and --nesterov")
        if nesterov and momentum == 0:
            raise RidgelineError("--nesterov needs --momentum > 0: with --momentum 0 the rule is plain sgd, "
                                 "which has no Nesterov term; drop --nesterov or give a momentum")
        config = TrainConfig(momentum=TrainConfig.momentum if momentum is None else momentum,
                             nesterov=TrainConfig.nesterov if nesterov is None else nesterov, **fields)
    else:
        given = [f"--{n}" for n, v in (("momentum", momentum), ("nesterov", nesterov)) if v is not None]
        if given:
            raise RidgelineError(f"{', '.join(given)} {'is an SGD flag' if len(given) == 1 else 'are SGD flags'}; "
                                 f"with --optimizer {optimizer} use --beta1, --beta2 and --eps")
        if optimizer == "lion" and eps is not None:
            raise RidgelineError("--eps applies to --optimizer adamw or adam; Lion's update sign(c) has no ε")
        config = TrainConfig(optimizer=optimizer, momentum=0.9 if beta1 is None else beta1, nesterov=False,
                             beta2=beta2, eps=TrainConfig.eps if eps is None else eps, **fields)
    check(config)
    return config


def parse_symmetry_ref(text: str) -> tuple[float, float]:
    """(λ₀, α₀) of ``"lr=λ₀,wd=α₀"``, both finite and > 0, or a one-line RidgelineError."""
    usage = f"symmetry_ref must be lr=LR,wd=WD with both > 0 (e.g. lr=0.1,wd=2e-3), got {text!r}"
    values = {}
    for item in str(text).split(","):
        name, sep, value = item.partition("=")
        try:
            values[name.strip()] = float(value) if sep and value.strip().isascii() else math.nan
        except ValueError:
            raise RidgelineError(usage) from None
    if set(values) != {"lr", "wd"} or not all(math.isfinite(v) and v > 0 for v in values.values()):
        raise RidgelineError(usage)
    return values["lr"], values["wd"]


def format_symmetry_ref(lr: float, wd: float) -> str:
    """The ``symmetry_ref`` text of (λ₀, α₀), with every digit."""
    return f"lr={lr!r},wd={wd!r}"


def exact_symmetry_fields(lr: float, wd: float) -> dict:
    """The TrainConfig fields of exact-symmetry mode about the reference (λ₀, α₀) = (lr, wd).

    Along the rescaling orbit (w, λ, α) → (r w, r² λ, α/r²) of the scale-invariant conv
    weights, training maps onto itself only if nothing else moves: their |w₀| follows λ
    (``init_scale="follow"``: × (λ/λ₀)^e, :func:`initial_scale`), and the tensors without
    the symmetry (BN scales and shifts, the classifier) are held at (λ₀, α₀). Then a λ × α
    landscape is a function of λα alone, up to BN's ε and rounding.
    """
    return {"init_scale": "follow", "symmetry_ref": format_symmetry_ref(lr, wd),
            "other_lr": lr, "other_wd": wd}


def initial_scale(config: "TrainConfig") -> float:
    """The multiplier of the scale-invariant conv weights at initialisation.

    A number is used as it is; ``"follow"`` gives (λ/λ₀)^e, with λ₀ from
    ``symmetry_ref`` and e = a/b from the rule's rescaling exponents
    (:func:`dynamics.theory.symbolic.init_follow_exponent`: 1/2 for the SGD rules).
    """
    if config.init_scale != "follow":
        return float(config.init_scale)
    from dynamics.theory.dispatch import init_follow_exponent

    lr0, _ = parse_symmetry_ref(config.symmetry_ref)
    return (config.lr / lr0) ** float(init_follow_exponent(config.rule))


def rule_name(momentum: float, nesterov: bool) -> str:
    """"sgd" when ρ = 0, else "nesterov" or "heavy-ball" (names of dynamics.rules.RULES)."""
    if momentum == 0:
        return "sgd"
    return "nesterov" if nesterov else "heavy-ball"


def sgd_arguments(lr: float, wd: float, momentum: float, nesterov: bool,
                  batch_size: int, loss: str = "mean") -> dict:
    """torch.optim.SGD arguments for Page's (λ, α, ρ) — the one conversion.

    Page's code minimises the SUMMED loss S = Σ_i ℓ_i = N·L over a batch of N images
    and passes ``lr = λ/N`` and ``weight_decay = α·N`` to SGD, so its step is

        (λ/N)(∇S + αN w) = (λ/N)(N ∇L + αN w) = λ(∇L + α w),

    the step of SGD on the MEAN loss L with ``lr = λ`` and ``weight_decay = α``.
    ridgeline trains on the mean loss (``loss="mean"``), so λ and α are used as they
    are and match the rules and predictions of :mod:`dynamics`; ``loss="sum"`` gives
    Page's literal arguments, for a summed loss. Momentum ρ is the same in both.
    """
    if loss not in ("mean", "sum"):
        raise RidgelineError(f"loss must be 'mean' or 'sum', got {loss!r}")
    from dynamics.rules import torch_sgd_kwargs

    if loss == "sum":
        lr, wd = lr / batch_size, wd * batch_size
    return torch_sgd_kwargs(rule_name(momentum, nesterov), lr, wd, momentum)


def lr_at(config: TrainConfig, epoch_time: float) -> float:
    """Learning rate at ``epoch_time`` (fractional epochs since the start).

    piecewise: linear 0 → λ over the warm-up, then linear λ → 0 at ``epochs``
    (Page: knots at 0, 5, 24 epochs); constant: the same warm-up, then λ.
    The trainer evaluates it at the middle of each step, (s + ½)/steps_per_epoch.
    """
    from dynamics.theory.trajectory import schedule_lr  # written once, for validate's trajectories too

    return schedule_lr(epoch_time, config.lr, config.warmup, config.epochs, config.schedule)


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check(config: TrainConfig) -> None:
    """Raise a one-line RidgelineError for a config no run can use (before any data)."""
    _check_numbers(config)
    _check_init(config)
    _check_optimizer(config)
    _check_run(config)


def _bad(name, value, need):
    """Raise the one-line error: ``<name> must be <need>, got <value>``."""
    raise RidgelineError(f"{name} must be {need}, got {value!r}")


def _check_numbers(config: TrainConfig) -> None:
    """Epochs, batch size, width, λ, α and the other parameters' λ and α: each in its range."""
    if not isinstance(config.epochs, int) or config.epochs < 1:
        _bad("epochs", config.epochs, "an integer >= 1")
    if not isinstance(config.batch_size, int) or config.batch_size < 1:
        _bad("batch_size", config.batch_size, "an integer >= 1")
    if not (isinstance(config.width, (int, float)) and math.isfinite(config.width) and config.width > 0):
        _bad("width", config.width, "a number > 0 (1 = Page's ResNet-9, 0.125 for a quick CPU run)")
    if not (math.isfinite(config.lr) and config.lr >= 0):
        _bad("lr", config.lr, "a finite number >= 0")
    if not (math.isfinite(config.wd) and config.wd >= 0):
        _bad("wd", config.wd, "a finite number >= 0")
    if config.wd_on not in WD_ON:
        _bad("wd_on", config.wd_on, "'all' or 'scale-invariant'")
    for name in ("other_lr", "other_wd"):
        value = getattr(config, name)
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            _bad(name, value, "a finite number >= 0")


def _check_init(config: TrainConfig) -> None:
    """init_scale (a number, or 'follow' with symmetry_ref and λ > 0); settings that exclude each other."""
    if config.init_scale == "follow":
        if config.symmetry_ref is None:
            _bad("init_scale", config.init_scale, "a number, or 'follow' with symmetry_ref lr=LR,wd=WD set")
        if config.lr == 0:
            _bad("init_scale", config.init_scale, "a number when lr is 0 ('follow' scales |w₀| by lr)")
    elif isinstance(config.init_scale, bool) or not (
            isinstance(config.init_scale, (int, float)) and math.isfinite(config.init_scale) and config.init_scale > 0):
        _bad("init_scale", config.init_scale, "a finite number > 0 (1 = the default initialisation) or 'follow'")
    if config.symmetry_ref is not None:
        parse_symmetry_ref(config.symmetry_ref)
    if config.other_wd is not None and config.wd_on != "all":
        _bad("other_wd", config.other_wd, "unset with wd_on 'scale-invariant' (which sets it to 0)")
    if config.other_lr is not None and config.lr == 0:
        _bad("other_lr", config.other_lr, "unset when lr is 0 (it follows lr's schedule, scaled)")


def _check_optimizer(config: TrainConfig) -> None:
    """The optimizer and its settings: ρ (or β₁) in [0, 1), nesterov, adjust_lr, β₂, ε."""
    if config.optimizer not in OPTIMIZERS:
        _bad("optimizer", config.optimizer, f"one of {', '.join(OPTIMIZERS)}")
    sgd = config.optimizer == "sgd"
    if not 0 <= config.momentum < 1:
        _bad("momentum" if sgd else "beta1", config.momentum, "in [0, 1)")
    if not sgd and config.nesterov and config.optimizer != "muon":
        _bad("nesterov", config.nesterov, f"False with optimizer {config.optimizer!r} (an SGD flag)")
    from dynamics.rules import ADJUST_LR

    if config.adjust_lr not in ADJUST_LR or (config.adjust_lr != "original" and config.optimizer != "muon"):
        _bad("adjust_lr", config.adjust_lr, f"one of {', '.join(ADJUST_LR)}, with optimizer muon")
    if config.beta2 is not None and not (sgd is False and config.optimizer != "muon" and 0 <= config.beta2 < 1):
        _bad("beta2", config.beta2, "in [0, 1), with optimizer adamw, adam or lion")
    if not (isinstance(config.eps, (int, float)) and math.isfinite(config.eps) and config.eps > 0):
        _bad("eps", config.eps, "a finite number > 0 (e.g. 1e-8)")


def _check_run(config: TrainConfig) -> None:
    """Schedule, warmup, logging, data sizes, device, random seed and output directory."""
    if config.schedule not in SCHEDULES:
        _bad("schedule", config.schedule, "'piecewise' or 'constant'")
    if config.warmup_epochs is not None and not 0 <= config.warmup_epochs <= config.epochs:
        _bad("warmup_epochs", config.warmup_epochs, f"between 0 and epochs={config.epochs}")
    if not isinstance(config.log_every, int) or config.log_every < 1:
        _bad("log_every", config.log_every, "an integer >= 1 (steps)")
    if config.train_size is not None and (not isinstance(config.train_size, int) or config.train_size < 1):
        _bad("train_size", config.train_size, "an integer >= 1 or None (all)")
    if not isinstance(config.holdout, int) or config.holdout < 0:
        _bad("holdout", config.holdout, "an integer >= 0")
    if not isinstance(config.device, str) or not _DEVICE.match(config.device):
        _bad("device", config.device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not isinstance(config.seed, int) or not 0 <= config.seed < 2**63:
        _bad("seed", config.seed, f"an integer in [0, {2**63 - 1}] (torch's seed range)")
    if config.out is not None and not str(config.out).strip():
        _bad("out", config.out, "a directory path (--out \"\" would save nothing)")


#: the from_options arguments that set the first-moment family's fields (the rest are fields)
_FAMILY = ("optimizer", "momentum", "nesterov", "beta1", "beta2", "eps", "adjust_lr")


def saved_options(saved: dict) -> dict:
    """The :func:`from_options` arguments that rebuild the run saved as ``saved`` (its
    config.json): ``from_options(**saved_options(c.to_dict())) == c``. A field missing
    from an older run's file keeps its default (the value that run used)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - set(_FAMILY)
    options = {k: v for k, v in saved.items() if k in names}
    optimizer = saved.get("optimizer", TrainConfig.optimizer)
    momentum = saved.get("momentum", TrainConfig.momentum)
    if optimizer in ("sgd", "muon"):
        muon = {"adjust_lr": saved.get("adjust_lr", TrainConfig.adjust_lr)} if optimizer == "muon" else {}
        return {**options, "optimizer": optimizer, "momentum": momentum,
                "nesterov": saved.get("nesterov", TrainConfig.nesterov), **muon}
    eps = None if optimizer == "lion" else saved.get("eps", TrainConfig.eps)
    return {**options, "optimizer": optimizer, "beta1": momentum, "beta2": saved.get("beta2"), "eps": eps}


def resume_options(saved: dict, given: dict, where: str) -> dict:
    """``from_options`` arguments for ``--resume``: the saved run's, then the options
    ``given`` on the command line on top (a differing one is then refused by the run
    directory's check, naming it). A different ``--optimizer`` is refused here: the
    other family's options would not even parse."""
    options = saved_options(saved)
    if "optimizer" in given and given["optimizer"] != options["optimizer"]:
        raise RidgelineError(f"cannot resume {where} with a different configuration (optimizer: "
                             f"{options['optimizer']!r} then, {given['optimizer']!r} now); use the same "
                             "options or another --out")
    return {**options, **given}
