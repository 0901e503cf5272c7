"""The choice lists the command line offers, where cli.py can read them without numpy,
torch or sympy (core layer, docs/architecture.md: imports nothing of the project).

Each list belongs to the module named beside it, which imports it from here, so a
choice added here is offered by ``ridgeline --help`` and accepted by that module at once.
"""

from __future__ import annotations

#: ``ridgeline simulate --loss``: the toy losses of dynamics.jobs.simulate (dynamics.sim.toys, dynamics.sim.bnnet)
LOSSES = ("noise", "correlated", "quadratic", "bn-net")
#: ``ridgeline simulate --schedule``: the lr schedules of dynamics.sim.engine.schedule_factor
SIM_SCHEDULES = ("constant", "piecewise", "step")
