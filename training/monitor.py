"""A one-line norm monitor for any PyTorch training loop.

    monitor = Monitor(model, optimizer, out="runs/mine", every=10, batch=x)

attaches to torch's optimizer step hooks (``register_step_pre_hook`` /
``register_step_post_hook``) and, on every ``every``-th ``optimizer.step()``, measures
every parameter tensor around the step (training.norms: |w_t|, |g_t|, ∠(w_t, w_{t+1}),
|v_{t+1}|, and the gradient power ratio k_t of training.gradstats, whose filter it
updates on EVERY step). Before the first step it logs step 0: the initial |w| of every
tensor, the other columns empty (not when continuing from ``step`` > 0). On EVERY step it
reads λ (lr), α (weight_decay), ρ (momentum, β₁) and β₂ of every param group, as that
step uses them, so any ``torch.optim.lr_scheduler`` (a cycled momentum, a changing weight
decay) and several param groups are followed step by step. With ``step(closure)`` torch
runs the pre-hook before the closure computes the gradient: the monitor wraps the
closure and measures when it returns. A step GradScaler skips never calls
``optimizer.step()``, so it is not counted. What it cannot follow (a param group added
after it was made) it names once: a warning and ``monitor_notes.json``. With ``out`` it
writes the run-directory contract of ``ridgeline train``:

    config.json          optimiser, each param group's rule and hyperparameters, each tensor's
                         group, rule, shape and scale invariance; at the top level the rule, wd
                         and momentum of the group holding most scale-invariant tensors
    norms.csv            one row per (logged step, tensor); norms_per_channel.csv with per_channel
    hyperparameters.csv  one row per (step, group): lr, wd, momentum (β₁), beta2 (Adam types)
    probe.csv            the scale-invariance probe, when given a batch (training.probe)
    monitor_notes.json   what it could not follow, and the tensors it does not monitor
    summary.json         written when the monitor is closed, or at a normal interpreter exit

so ``ridgeline validate OUT`` works on it unchanged. Tables are rewritten atomically at
step 0 and the first logged step, then at most every ``flush_seconds`` and at the end. Scale invariance comes from probing the
model on ``batch`` (training.probe) or, without one, from its structure
(training.model.scale_invariant).

Supported optimisers are the rows of :data:`OPTIMIZERS`: torch.optim.SGD (any momentum,
Nesterov, dampening 0), torch.optim.AdamW, torch.optim.Adam (L2 decay: rule adam-l2) and
training.optim.Lion (ρ = β₁, v = ``exp_avg``; no amsgrad, no maximize), torch.optim.Muon and
training.optim.Muon (rule muon, v = ``momentum_buffer``). For AdamW and Adam it also logs
``update_power_ratio``, ``normalised_grad_power`` and ``normalised_grad_radial``: the
statistics of Adam's normalised update that validate takes (training.updatestats). Each row maps a
param group onto a rule of dynamics.rules, its (λ, α, ρ) and the state key of the rule's
buffer v; adding an optimiser is one row.

``hooks``: callables ``hook(step, params, grads, logged) -> dict | None`` run before
every step (grads: the loss gradients, the step not yet taken). On logged steps the
``{column: tensor of one value per tensor}`` they return become extra norms.csv columns.
A trainer that checkpoints saves ``monitor.gradstats.memory`` and continues with
:meth:`Monitor.resume`.

Nothing synchronises with the device between flushes: measurements stay in device
tensors and :meth:`fetch` copies them to the host in one go.
"""

from __future__ import annotations

import atexit
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from dynamics.util.errors import RidgelineError
from training import norms as M
from training.config import rule_name
from training.gradstats import GradientMemory


@dataclass(frozen=True)
class Rules:
    """How one optimiser class maps onto dynamics.rules, per param group."""

    rule: Callable[[dict], str]  # name in dynamics.rules.RULES
    hyper: Callable[[dict], tuple]  # (λ, α, ρ)
    buffer: Callable[[dict], Optional[str]]  # optimizer.state key of v; None: v' = g + α w


def _sgd_rule(group: dict) -> str:
    if group.get("dampening", 0) != 0:
        raise RidgelineError(f"torch.optim.SGD with dampening={group['dampening']} has no ridgeline "
                             "rule; use dampening=0")
    if group.get("maximize"):
        raise RidgelineError("torch.optim.SGD with maximize=True has no ridgeline rule")
    return rule_name(group["momentum"], group["nesterov"])


def _adaptive_rule(name: str) -> Callable[[dict], str]:
    """The rule of an Adam-type group: ``name``, or adamw for torch.optim.Adam with
    decoupled_weight_decay=True; amsgrad and maximize have no ridgeline rule."""
    def rule(group: dict) -> str:
        for flag in ("amsgrad", "maximize"):
            if group.get(flag):
                raise RidgelineError(f"{flag}=True has no ridgeline rule; use {flag}=False")
        return "adamw" if group.get("decoupled_weight_decay") else name
    return rule


def _betas(g: dict) -> tuple:
    return (g["lr"], g["weight_decay"], g["betas"][0])


# optimizer class (module.qualname, matched along the MRO) -> Rules
OPTIMIZERS: dict[str, Rules] = {
    "torch.optim.sgd.SGD": Rules(_sgd_rule, lambda g: (g["lr"], g["weight_decay"], g["momentum"]),
                                 lambda g: "momentum_buffer" if g["momentum"] else None),
    "torch.optim.adamw.AdamW": Rules(_adaptive_rule("adamw"), _betas, lambda g: "exp_avg"),
    "torch.optim.adam.Adam": Rules(_adaptive_rule("adam-l2"), _betas, lambda g: "exp_avg"),
    "training.optim.Lion": Rules(_adaptive_rule("lion"), _betas, lambda g: "exp_avg"),
    # Muon (2-D: torch's; any matrix or conv weight: ridgeline's, whose "sgd" groups take that SGD rule)
    "torch.optim.Muon": Rules(lambda g: "muon", lambda g: (g["lr"], g["weight_decay"], g["momentum"]),
                              lambda g: "momentum_buffer"),
    "training.optim.Muon": Rules(lambda g: g.get("sgd") or "muon",
                                 lambda g: (g["lr"], g["weight_decay"], g["momentum"]), lambda g: "momentum_buffer"),
}


def rules_for(optimizer: torch.optim.Optimizer) -> Rules:
    """The :data:`OPTIMIZERS` row of ``optimizer``'s class, or a one-line RidgelineError."""
    for cls in type(optimizer).__mro__:
        found = OPTIMIZERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found
    raise RidgelineError(f"{type(optimizer).__name__} is not supported by ridgeline's monitor; "
                         "supported: torch.optim.SGD (any momentum, Nesterov, dampening 0), "
                         "torch.optim.AdamW, torch.optim.Adam, training.optim.Lion, torch.optim.Muon "
                         "and training.optim.Muon")


def _group_rule(rules: Rules, group: dict) -> str:
    from dynamics.rules import RULES

    name = rules.rule(group)
    if name not in RULES:
        raise RidgelineError(f"rule {name!r} is not in dynamics.rules; choose one of {', '.join(RULES)}")
    return name


class Monitor:
    """Measure every parameter tensor around every ``every``-th ``optimizer.step()``.

    ``out``: run directory to write (None: keep the tables in memory, see :meth:`fetch`).
    ``batch``: inputs (or an (inputs, targets) pair) to probe scale invariance on.
    ``tensorboard``: also write TensorBoard scalars under ``out``/tensorboard.
    ``per_channel``: also measure every output channel of tensors with dim >= 2.
    ``step``: steps already taken (to continue a resumed run); ``epoch``: the value of the
    epoch column, set it from the loop if wanted. ``overwrite``: replace a run in ``out``.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, out: Optional[str] = None,
                 every: int = 10, batch=None, tensorboard: bool = False, per_channel: bool = False,
                 step: int = 0, overwrite: bool = False, flush_seconds: float = 30.0):
        if not isinstance(every, int) or every < 1:
            raise RidgelineError(f"every must be an integer >= 1 (steps), got {every!r}")
        self.rules = rules_for(optimizer)
        group_of = {id(p): i for i, g in enumerate(optimizer.param_groups) for p in g["params"]}
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and id(p) in group_of]
        if not named:
            raise RidgelineError("the optimizer updates none of the model's parameters")
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.groups = [group_of[id(p)] for p in self.params]
        self.group_rules = [_group_rule(self.rules, g) for g in optimizer.param_groups]
        self.probe = None
        if batch is not None:
            from training.probe import probe

            self.probe = probe(model, batch)
            flags = self.probe.invariant
        else:
            from training.model import scale_invariant

            flags = scale_invariant(model)
        self.invariant = [bool(flags.get(n, False)) for n in self.names]
        self.shapes = ["x".join(map(str, p.shape)) for p in self.params]
        self.channelled = [i for i, p in enumerate(self.params) if p.dim() >= 2] if per_channel else []
        self.optimizer, self.every, self.per_channel = optimizer, every, per_channel
        self.step, self.epoch = step, 0
        self.hooks: list[Callable] = []
        from training.updatestats import RULES as UPDATE_RULES

        self._adaptive = any(r in UPDATE_RULES for r in self.group_rules)
        self.gradstats = GradientMemory(self.params, self.groups)
        self._members = [[i for i, k in enumerate(self.groups) if k == gi]
                         for gi in range(len(optimizer.param_groups))]
        self._before: list[torch.Tensor] = []  # w_t on a logged step, allocated once
        self._pending = None
        self._rows: list[tuple] = []  # (step, epoch, [(λ, α, ρ) per group]) per logged step
        self._records: list[dict] = []  # {column: (P,) device tensor} per logged step
        self._channel_records: list[dict] = []
        self._n_groups = len(optimizer.param_groups)
        self._model_params = list(model.named_parameters())  # names for a group added later
        self.notes: dict[str, str] = {}  # changes not followed (monitor_notes.json)
        self.unmonitored: list[str] = []  # tensors of a param group added later
        self._per_step: list[tuple] = []  # (step, [(λ, α, ρ, β₂) per group]) on every step
        self._handles = [optimizer.register_step_pre_hook(self._pre),
                         optimizer.register_step_post_hook(self._post)]
        self.out = Path(out).expanduser() if out is not None else None
        self.board = None
        self._tables, self._last_flush, self._flush_seconds = None, time.monotonic(), flush_seconds
        self._diverged = False
        if self.out is not None:
            self._start(overwrite, tensorboard)
        elif tensorboard:
            raise RidgelineError("tensorboard=True needs a run directory: pass out=DIR")

    # ------------------------------------------------------------------ the step hooks
    def wants(self, step: int) -> bool:
        """Whether the ``step``-th step (from 1) is measured."""
        return step % self.every == 0

    def resume(self, step: int, gradient_memory: Optional[list] = None) -> None:
        """Continue a run after ``step`` steps (no step-0 row), restoring the gradient
        statistic's filter state saved from ``gradstats.memory`` (None: restart it at 0)."""
        self.step = step
        if gradient_memory is not None:
            self.gradstats.load(gradient_memory)

    @torch.no_grad()
    def _initial(self, hyper: list[tuple]) -> None:
        """Step 0: |w| of the weights about to take the first step (the rest NaN)."""
        weights = [p.detach() for p in self.params]
        self._records.append({"weight_norm": torch.stack(torch._foreach_norm(weights))})
        if self.channelled:
            self._channel_records.append(
                {"weight_norm": torch.cat([weights[i].flatten(1).norm(dim=1) for i in self.channelled])})
        self._rows.append((0, 0, hyper))
        if self.out is not None:  # at once: a run killed before its first interval still has norms.csv
            self.flush()

    def _pre(self, optimizer, args, kwargs):
        """Before a step: with ``step(closure)`` measure once the closure has computed
        this step's gradient (torch runs this hook before it); otherwise now."""
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)  # args[0]: the optimizer
        if closure is None:
            self._measure(optimizer)
            return None
        seen = []

        def measured_closure():
            loss = closure()
            if not seen:  # the gradient of this step is in .grad now (LBFGS calls it again)
                seen.append(True)
                self._measure(optimizer)
            return loss

        if "closure" in kwargs:
            return args, {**kwargs, "closure": measured_closure}
        return (args[0], measured_closure, *args[2:]), kwargs

    def _hyperparameters(self, groups: list[dict]) -> list[tuple]:
        """(λ, α, ρ, β₂) of every param group monitored (β₂ NaN without one); a group added
        after the monitor was made is named once in :attr:`notes`, not followed."""
        if len(groups) != self._n_groups and "added_group" not in self.notes:
            names = {id(p): n for n, p in self._model_params}
            added = [names.get(id(p), f"an unnamed {'x'.join(map(str, p.shape))} tensor")
                     for g in groups[self._n_groups:] for p in g["params"]]
            self.unmonitored = added
            self._note("added_group", f"{len(groups) - self._n_groups} param group(s) added to the optimizer "
                       f"at step {self.step + 1} ({', '.join(added)}): not monitored; make the Monitor "
                       "after the last add_param_group")
        nan = float("nan")
        return [tuple(map(float, self.rules.hyper(g))) + (float(g["betas"][1]) if "betas" in g else nan,)
                for g in groups[:self._n_groups]]

    def _note(self, key: str, text: str) -> None:
        """Record a change the monitor cannot follow: a warning now, monitor_notes.json in ``out``."""
        import warnings

        self.notes[key] = text
        warnings.warn(f"ridgeline monitor: {text}", stacklevel=4)
        if self.out is not None:
            from dynamics.util.io import write_json

            write_json(self.out / "monitor_notes.json", {"notes": self.notes, "unmonitored": self.unmonitored})

    @torch.no_grad()
    def _measure(self, optimizer) -> None:
        groups = optimizer.param_groups
        every = self._hyperparameters(groups)  # once per step, kept for every step
        hyper = [h[:3] for h in every]
        if self.step == 0:
            self._initial(hyper)
        self.step += 1
        if self.out is not None:
            self._per_step.append((self.step, every))
        logged = self.wants(self.step)
        grads = M.grads_of(self.params)
        rho = [h[2] for h in hyper]
        if not logged:  # the gradient power ratio's filter sees every step
            self.gradstats.step(grads, rho)
            for hook in self.hooks:
                hook(self.step, self.params, grads, False)
            return
        if not self._before:
            self._before = [torch.empty_like(p) for p in self.params]
        before = self._before
        torch._foreach_copy_(before, self.params)  # w_t, all tensors in one call
        measured = M.before_step(before, grads)
        extra = {"grad_power_ratio": self.gradstats.step(grads, rho, measured["grad_norm"])}
        if self._adaptive:
            extra.update(self._update_stats(grads))
        for hook in self.hooks:
            extra.update(hook(self.step, self.params, grads, True) or {})
        plain = {}  # tensors whose rule keeps no buffer: v' = g + α w, per group
        for gi, g in enumerate(groups[:self._n_groups]):
            idx = self._members[gi]
            if idx and self.rules.buffer(g) is None:
                plain.update(zip(idx, M.plain_sgd_buffers([grads[i] for i in idx],
                                                          [before[i] for i in idx], hyper[gi][1])))
        rows = None
        if self.channelled:
            rows = M.rows_before_step([before[i] for i in self.channelled], [grads[i] for i in self.channelled])
        self._pending = (self.step, measured, rows, extra, plain, hyper)

    def _update_stats(self, grads: list[torch.Tensor]) -> dict:
        """κ_t, ν_t, ξ_t of training.updatestats for every tensor (NaN for a group without them)."""
        from training.updatestats import NAMES, muon_stats, update_stats

        groups = self.optimizer.param_groups
        values = []
        for p, g, gi in zip(self.params, grads, self.groups):
            group = groups[gi]
            if self.group_rules[gi] == "muon":  # Muon's |O|² and radial share
                values.append(muon_stats(p, g, self.optimizer.state.get(p, {}), group["momentum"],
                                         group["nesterov"], group.get("adjust_lr_fn") or "original"))
                continue
            values.append(update_stats(self.group_rules[gi], p, g, self.optimizer.state.get(p, {}),
                                       group.get("weight_decay", 0.0), group["betas"][0] if "betas" in group
                                       else 0.0, group["betas"][1] if "betas" in group else 0.0,
                                       group.get("eps", 0.0)))
        values = torch.stack(values)
        return {name: values[:, i] for i, name in enumerate(NAMES)}

    @torch.no_grad()
    def _post(self, optimizer, args, kwargs) -> None:
        if self._pending is None:
            return
        step, measured, rows, extra, plain, hyper = self._pending
        self._pending = None
        before, groups, state = self._before, optimizer.param_groups, optimizer.state
        keys = [self.rules.buffer(g) for g in groups[:self._n_groups]]
        buffers = []
        for i, p in enumerate(self.params):
            v = plain.get(i)
            if v is None:
                v = state[p].get(keys[self.groups[i]]) if p in state else None
            # a tensor the loss never reached has no state yet: its buffer is zero
            buffers.append(torch.zeros_like(p) if v is None else v)
        measured.update(M.after_step(before, self.params, buffers, measured["weight_norm"]))
        measured.update(extra)
        self._records.append(measured)
        if rows is not None:
            rows.update(M.rows_after_step([before[i] for i in self.channelled],
                                          [self.params[i] for i in self.channelled],
                                          [buffers[i] for i in self.channelled]))
            self._channel_records.append(rows)
        self._rows.append((step, self.epoch, hyper))
        early = self._tables is None or len(self._tables[0]) <= len(self.params)  # step 0 alone so far
        if self.out is not None and (early or time.monotonic() - self._last_flush > self._flush_seconds):
            self.flush()

    # ------------------------------------------------------------------------ tables
    def fetch(self):
        """(norms, per-channel norms or None) as pandas DataFrames for the steps measured
        since the last fetch: the one host copy of the measurements."""
        import numpy as np
        import pandas as pd

        layers = (self.names, self.shapes, self.invariant, self.groups)
        channel_layers = [[v[i] for i in self.channelled for _ in range(self.params[i].shape[0])]
                          for v in layers]
        channel_index = [c for i in self.channelled for c in range(self.params[i].shape[0])]
        norms = _frame(self._rows, self._records, *layers, None)
        channels = _frame(self._rows, self._channel_records, *channel_layers, channel_index) \
            if self.per_channel else None
        if len(norms):
            columns = [c for c in ("weight_norm", "grad_norm") if c in norms]  # step 0 alone: |w| only
            measured = norms.loc[norms["step"] > 0, columns].to_numpy()
            self._diverged |= not bool(np.isfinite(measured).all())
        self._rows, self._records, self._channel_records = [], [], []
        return norms, channels

    def hyperparameters(self):
        """hyperparameters.csv: λ, α, ρ (and β₂ for the Adam types) of every param group on
        every step the monitor saw, one row per (step, group), as the step used them."""
        import numpy as np
        import pandas as pd

        betas = any("betas" in g for g in self.optimizer.param_groups[:self._n_groups])
        columns = ["step", "group", *M.HYPERPARAMETERS] + (["beta2"] if betas else [])
        if not self._per_step:
            return pd.DataFrame(columns=columns)
        steps = np.repeat([s for s, _ in self._per_step], self._n_groups)
        values = np.array([h for _, every in self._per_step for h in every], dtype=float)
        frame = {"step": steps, "group": np.tile(np.arange(self._n_groups), len(self._per_step))}
        frame.update({k: values[:, j] for j, k in enumerate(columns[2:])})
        return pd.DataFrame(frame)

    def flush(self) -> None:
        """Append the new measurements to the tables in ``out`` (atomic rewrites)."""
        import pandas as pd

        from dynamics.util.io import write_csv

        norms, channels = self.fetch()
        old = self._tables
        self._tables = (norms, channels) if old is None else (
            pd.concat([old[0], norms], ignore_index=True),
            pd.concat([old[1], channels], ignore_index=True) if channels is not None else None)
        write_csv(self.out / "norms.csv", self._tables[0])
        if self._tables[1] is not None:
            write_csv(self.out / "norms_per_channel.csv", self._tables[1])
        write_csv(self.out / "hyperparameters.csv", self.hyperparameters())
        if self.board is not None and len(norms):
            self.board.add(self._tables[0])
        self._last_flush = time.monotonic()

    def close(self, finished: bool = True) -> None:
        """Remove the hooks, write the tables and (``finished``) summary.json."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        atexit.unregister(self._at_exit)
        if self.out is None:
            return
        from dynamics.util.io import write_json

        self.flush()
        if self.board is not None:
            self.board.close()
        if finished:
            steps = self._tables[0]["step"]
            write_json(self.out / "summary.json", {"steps": self.step, "diverged": self._diverged,
                                                   "logged_steps": int(steps[steps > 0].nunique()),
                                                   "notes": list(self.notes.values()),
                                                   "source": "training.monitor.Monitor"})

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(finished=kind is None)

    def _at_exit(self) -> None:
        # an uncaught exception sets sys.last_value: the run did not finish
        self.close(finished=not hasattr(sys, "last_value"))

    # -------------------------------------------------------------- run directory
    def _start(self, overwrite: bool, tensorboard: bool) -> None:
        from dynamics.util.io import ensure_dir, write_csv, write_json

        if tensorboard:
            from training.tensorboard import require

            require()  # before anything is written
        if not overwrite and any((self.out / f).exists() for f in ("norms.csv", "summary.json")):
            raise RidgelineError(f"{self.out} already holds a run; choose another out or pass overwrite=True")
        ensure_dir(self.out)
        for stale in ("norms.csv", "norms_per_channel.csv", "summary.json", "probe.csv",
                      "hyperparameters.csv", "monitor_notes.json"):
            (self.out / stale).unlink(missing_ok=True)
        config = self.config()
        if tensorboard:
            from training.tensorboard import Board

            self.board = Board(self.out, config)
        write_json(self.out / "config.json", config)
        if self.probe is not None:
            write_csv(self.out / "probe.csv", self.probe.frame())
        atexit.register(self._at_exit)

    def config(self) -> dict:
        """config.json: per-group and per-tensor rules and hyperparameters (validate applies
        each tensor's own group's); at the top level those of the group holding most
        scale-invariant tensors."""
        groups = []
        for i, g in enumerate(self.optimizer.param_groups):
            lr, wd, momentum = (float(h) for h in self.rules.hyper(g))
            adaptive = {"beta2": float(g["betas"][1]), "eps": float(g.get("eps", 0.0))} if "betas" in g else {}
            if self.group_rules[i] == "muon":  # torch's None is its "original"
                adaptive = {"adjust_lr": g.get("adjust_lr_fn") or "original"}
            groups.append({"group": i, "rule": self.group_rules[i], "lr": lr, "wd": wd, "momentum": momentum,
                           "nesterov": bool(g.get("nesterov", False)), **adaptive, "tensors": self.groups.count(i),
                           "scale_invariant_tensors": sum(inv for k, inv in zip(self.groups, self.invariant)
                                                          if k == i)})
        main = max(groups, key=lambda g: g["scale_invariant_tensors"])
        tensors = {n: {"group": k, "rule": self.group_rules[k], "shape": s, "scale_invariant": inv,
                       "wd": groups[k]["wd"], "momentum": groups[k]["momentum"]}
                   for n, k, s, inv in zip(self.names, self.groups, self.shapes, self.invariant)}
        return {"rule": main["rule"], "lr": main["lr"], "wd": main["wd"], "momentum": main["momentum"],
                "nesterov": main["nesterov"], **{k: main[k] for k in ("beta2", "eps", "adjust_lr") if k in main},
                "optimizer": type(self.optimizer).__name__,
                "log_every": self.every, "per_channel": self.per_channel,
                "scale_invariance": "probe" if self.probe is not None else "structure",
                "source": "training.monitor.Monitor", "param_groups": groups, "tensors": tensors}


def _frame(rows, records, names, shapes, invariant, groups, channel):
    """One DataFrame for the logged steps: layer columns, then every measured column in the
    order the measurements returned them (NaN where a step has none), then the tensor's
    group's λ, α, ρ at that step."""
    import numpy as np
    import pandas as pd

    layer_columns = ["step", "epoch", "layer"] + (["shape"] if channel is None else ["channel"]) + \
        ["scale_invariant"]
    if not rows:
        return pd.DataFrame(columns=layer_columns + list(M.HYPERPARAMETERS))
    keys = list(dict.fromkeys(k for r in records for k in r))  # in order of first appearance
    nan = torch.full_like(records[0][keys[0]], float("nan"))  # a column a record lacks (step 0)
    values = torch.stack([torch.stack([r.get(k, nan) for k in keys], dim=1).float()
                          for r in records]).cpu().numpy()
    t, p = values.shape[:2]
    steps, epochs, hyper = (np.asarray(c) for c in zip(*rows))  # hyper: (T, groups, 3)
    per_row = hyper[:, np.asarray(groups, dtype=int)]  # (T, P, 3)
    frame = {"step": np.repeat(steps, p), "epoch": np.repeat(epochs, p), "layer": np.tile(names, t),
             ("shape" if channel is None else "channel"): np.tile(shapes if channel is None else channel, t),
             "scale_invariant": np.tile(invariant, t)}
    frame.update({k: values[..., j].ravel() for j, k in enumerate(keys)})
    frame.update({k: per_row[..., j].ravel() for j, k in enumerate(M.HYPERPARAMETERS)})
    return pd.DataFrame(frame)
