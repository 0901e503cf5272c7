"""TensorBoard scalars from a run's norm table (the optional extra ``ridgeline[tensorboard]``).

Written under RUN_DIR/tensorboard by :class:`training.monitor.Monitor` (``tensorboard=True``)
and ``ridgeline train --tensorboard``, from the same rows as norms.csv, which stays the
source of truth. Per layer, at every logged step:

    weight_norm/LAYER   |w_t|
    angle/LAYER         ∠(w_t, w_{t+1}), radians
    norm_ratio/LAYER    |w_t| / |w|*_t          (scale-invariant layers; dynamics.jobs.validate.compare:
    angle_ratio/LAYER   θ̄_t / θ*_t               the white-noise prediction from the smoothed G)

and ``lr/groupK``, λ_t of each param group.
"""

from __future__ import annotations

import math
from pathlib import Path

from dynamics.util.errors import RidgelineError

INSTALL = "pip install 'ridgeline[tensorboard]'"


def require() -> None:
    """Raise a one-line RidgelineError saying how to install TensorBoard when it is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise RidgelineError(f"TensorBoard output needs the tensorboard package: {INSTALL} "
                             "(or pip install tensorboard)") from None


class Board:
    """A SummaryWriter on RUN_DIR/tensorboard that writes the steps it has not written yet."""

    def __init__(self, run_dir, config: dict, after_step: float = -math.inf):
        require()
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir, self.config, self.last_step = Path(run_dir), config, after_step
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        tensors = config.get("tensors", {})
        self.group = {name: int(t.get("group", 0)) for name, t in tensors.items()}

    def add(self, norms) -> None:
        """Write the rows of ``norms`` (every logged step so far) past the last written step."""
        import numpy as np

        if norms.empty or norms["step"].max() <= self.last_step:
            return
        if not {"grad_norm", "angular_update"} <= set(norms.columns):  # step 0 alone (the monitor's
            return  # first flush): no gradient yet to predict from; written with the next flush
        steps = self._compare(norms)
        new = steps[steps["step"] > self.last_step]
        for row in new.itertuples(index=False):
            step, layer = int(row.step), row.layer
            scalars = {"weight_norm": row.weight_norm, "angle": row.angular_update}
            if row.scale_invariant:
                scalars.update(norm_ratio=row.norm_ratio_white, angle_ratio=row.angle_ratio_white)
            for tag, value in scalars.items():
                if np.isfinite(value):
                    self.writer.add_scalar(f"{tag}/{layer}", float(value), step)
        lrs = new.assign(group=new["layer"].map(lambda n: self.group.get(n, 0)))
        for (step, group), lr in lrs.groupby(["step", "group"])["lr"].first().items():
            self.writer.add_scalar(f"lr/group{group}", float(lr), int(step))
        self.writer.flush()
        self.last_step = int(new["step"].max())

    def _compare(self, norms):
        """dynamics.jobs.validate.compare on the table so far: predictions and ratios per row."""
        from dynamics.jobs.validate import Run, ValidateConfig, _rule_of, compare

        norms = norms.copy()
        norms["scale_invariant"] = norms["scale_invariant"].astype(str).str.lower().isin(["true", "1"])
        run = Run(self.run_dir, self.config, norms, None, _rule_of(self.config),
                  float(self.config.get("wd", 0.0)), float(self.config.get("momentum", 0.0)))
        return compare(run, ValidateConfig(str(self.run_dir), figures=False))

    def close(self) -> None:
        self.writer.close()
