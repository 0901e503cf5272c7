"""Per-layer norm logging: what the equilibrium theory predicts, measured every k steps.

For every parameter tensor w, on every logged step t (the optimiser step that turns
w_t into w_{t+1}, using the loss gradient g_t computed at w_t):

    weight_norm     |w_t|                      (the weights the gradient was taken at)
    grad_norm       |g_t|                      loss gradient only, WITHOUT weight decay
    angular_update  ∠(w_t, w_{t+1})            dynamics.geometry.angle, radians
    momentum_norm   |v_{t+1}|                  the optimiser's first-moment buffer after the
                                               step (SGD's momentum_buffer, Adam's and Lion's
                                               exp_avg; for plain SGD the rule's v' = g + α w)
    lr              λ_t, the learning rate of that step
    grad_power_ratio  k_t, gradient power through the momentum filter relative to
                    white noise (training.gradstats; 1 = uncorrelated gradients)

Step 0 is the initial weights (call :meth:`NormLogger.initial`): weight_norm only,
the other columns empty.

so G = grad_norm · weight_norm is the scale-free gradient norm that
dynamics.symbolic.predict takes. Each tensor is marked scale-invariant or not
(training.model.scale_invariant). With ``per_channel`` the same is measured for
every output channel (row of dim 0) of conv and linear weights.

Nothing here synchronises with the device: measurements stay in device tensors
and :meth:`NormLogger.fetch` copies them to the host once (once per epoch). Work
is done only on logged steps: one copy of the weights before the step, a few
``torch._foreach_norm`` calls and one angle per tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from dynamics.geometry import angle
from training.gradstats import GradientMemory
from training.model import scale_invariant

COLUMNS = ["step", "epoch", "layer", "shape", "scale_invariant", "weight_norm", "grad_norm",
           "angular_update", "momentum_norm", "lr", "grad_power_ratio"]
CHANNEL_COLUMNS = ["step", "epoch", "layer", "channel", "scale_invariant", "weight_norm",
                   "grad_norm", "angular_update", "momentum_norm", "lr"]


class NormLogger:
    """Measure every parameter tensor of ``model`` on every ``every``-th step.

    Use around ``optimizer.step()``::

        if logger.wants(step):          # step = 1, 2, … (the step about to be taken)
            logger.before(step)
        optimizer.step()
        if logger.wants(step):
            logger.after(step, epoch, lr)
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, every: int,
                 per_channel: bool = False, wd: float = 0.0):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        flags = scale_invariant(model)
        self.invariant = [flags[n] for n in self.names]
        self.shapes = ["x".join(map(str, p.shape)) for p in self.params]
        self.optimizer, self.every, self.per_channel, self.wd = optimizer, every, per_channel, wd
        self.channelled = [i for i, p in enumerate(self.params) if p.dim() >= 2]
        self._before: list[torch.Tensor] | None = None
        self._pending: tuple | None = None
        self._rows: list[tuple[int, int, float]] = []  # (step, epoch, lr) per logged step, host side
        self._records: list[torch.Tensor] = []  # (P, 4) per logged step, on the device
        self._channel_records: list[torch.Tensor] = []  # (sum of channels, 4) per logged step
        self.gradstats = GradientMemory(self.params, optimizer.param_groups[0].get("momentum", 0.0))
        optimizer.register_step_pre_hook(self.gradstats.hook)  # every step, before the update

    @torch.no_grad()
    def initial(self, lr: float) -> None:
        """Log step 0: the initial |w| of every tensor (no gradient yet: the rest NaN)."""
        w = torch.stack(torch._foreach_norm([p.detach() for p in self.params]))
        nan = torch.full_like(w, float("nan"))
        self._records.append(torch.stack([w, nan, nan, nan, nan], dim=1).float())
        if self.per_channel:
            cw = torch.cat([self.params[i].detach().flatten(1).norm(dim=1) for i in self.channelled])
            self._channel_records.append(torch.stack([cw] + [torch.full_like(cw, float("nan"))] * 3, 1).float())
        self._rows.append((0, 0, lr))

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    @torch.no_grad()
    def before(self, step: int) -> None:
        """Snapshot w_t and measure |w_t|, |g_t| (call after backward, before the step)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        self._before = [p.detach().clone() for p in self.params]
        w = torch.stack(torch._foreach_norm(self._before))
        g = torch.stack(torch._foreach_norm(grads))
        per_channel = None
        if self.per_channel:
            per_channel = (torch.cat([self._before[i].flatten(1).norm(dim=1) for i in self.channelled]),
                           torch.cat([grads[i].flatten(1).norm(dim=1) for i in self.channelled]))
        # plain SGD keeps no buffer; the rule's v' = g + α w (dynamics.rules.sgd)
        self._sgd_v = None if self._has_buffers() else torch._foreach_add(grads, self._before, alpha=self.wd)
        self._pending = (step, w, g, per_channel, self.gradstats.power_ratio())

    def _has_buffers(self) -> bool:
        """torch.optim.SGD keeps a momentum buffer exactly when momentum != 0; Adam and
        Lion always keep one (``exp_avg``)."""
        return "betas" in self.optimizer.param_groups[0] or self.optimizer.param_groups[0].get("momentum", 0) != 0

    def _buffers(self) -> list[torch.Tensor]:
        from training.optim import first_moment

        if self._sgd_v is not None:
            return self._sgd_v
        return [first_moment(self.optimizer, p) for p in self.params]

    @torch.no_grad()
    def after(self, step: int, epoch: int, lr: float) -> None:
        """Measure ∠(w_t, w_{t+1}) and |v_{t+1}| (call right after the step)."""
        pending_step, w, g, per_channel, k = self._pending
        assert pending_step == step, "NormLogger.after must follow before() of the same step"
        buffers = self._buffers()
        theta = torch.stack([angle(b.flatten(), p.detach().flatten(), dim=0)
                             for b, p in zip(self._before, self.params)])
        v = torch.stack(torch._foreach_norm(buffers))
        self._records.append(torch.stack([w, g, theta, v, k], dim=1).float())
        if per_channel is not None:
            cw, cg = per_channel
            ctheta = torch.cat([angle(self._before[i].flatten(1), self.params[i].detach().flatten(1), dim=1)
                                for i in self.channelled])
            cv = torch.cat([buffers[i].flatten(1).norm(dim=1) for i in self.channelled])
            self._channel_records.append(torch.stack([cw, cg, ctheta, cv], dim=1).float())
        self._rows.append((step, epoch, lr))
        self._before = self._pending = self._sgd_v = None

    def fetch(self):
        """(norms, per-channel norms or None) as pandas DataFrames for the steps logged
        since the last fetch: the one host copy of the measurements."""
        import numpy as np
        import pandas as pd

        if not self._rows:
            return pd.DataFrame(columns=COLUMNS), (pd.DataFrame(columns=CHANNEL_COLUMNS) if self.per_channel else None)
        values = torch.stack(self._records).cpu().numpy()  # (T, P, 5)
        t, p = values.shape[:2]
        steps, epochs, lrs = (np.asarray(c) for c in zip(*self._rows))
        frame = pd.DataFrame({
            "step": np.repeat(steps, p), "epoch": np.repeat(epochs, p),
            "layer": np.tile(self.names, t), "shape": np.tile(self.shapes, t),
            "scale_invariant": np.tile(self.invariant, t),
            "weight_norm": values[..., 0].ravel(), "grad_norm": values[..., 1].ravel(),
            "angular_update": values[..., 2].ravel(), "momentum_norm": values[..., 3].ravel(),
            "lr": np.repeat(lrs, p), "grad_power_ratio": values[..., 4].ravel(),
        })[COLUMNS]
        channels = None
        if self.per_channel:
            cvalues = torch.stack(self._channel_records).cpu().numpy()  # (T, C, 4)
            c = cvalues.shape[1]
            layer = np.concatenate([[self.names[i]] * self.params[i].shape[0] for i in self.channelled])
            index = np.concatenate([np.arange(self.params[i].shape[0]) for i in self.channelled])
            inv = np.concatenate([[self.invariant[i]] * self.params[i].shape[0] for i in self.channelled])
            channels = pd.DataFrame({
                "step": np.repeat(steps, c), "epoch": np.repeat(epochs, c),
                "layer": np.tile(layer, t), "channel": np.tile(index, t),
                "scale_invariant": np.tile(inv, t),
                "weight_norm": cvalues[..., 0].ravel(), "grad_norm": cvalues[..., 1].ravel(),
                "angular_update": cvalues[..., 2].ravel(), "momentum_norm": cvalues[..., 3].ravel(),
                "lr": np.repeat(lrs, c),
            })[CHANNEL_COLUMNS]
        self._rows, self._records, self._channel_records = [], [], []
        return frame, channels
