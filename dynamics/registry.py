"""The choice lists the command line offers, where cli.py can read them without numpy,
torch or sympy (core layer, docs/architecture.md: imports nothing of the project).

Each list belongs to the module named beside it. Where that module only checks a choice,
it imports the list from here, so a choice added here is offered by ``ridgeline --help``
and accepted at once; where the module derives or maps the choices itself (marked
"mirrors"), tests/test_cli_derive.py checks that this copy still matches.
"""

from __future__ import annotations

#: ``ridgeline derive --format``: the renderings of dynamics.jobs.derive.render
DERIVE_FORMATS = ("table", "latex", "json")

#: ``ridgeline simulate --loss``: the toy losses of dynamics.jobs.simulate (dynamics.sim.toys, dynamics.sim.bnnet)
LOSSES = ("noise", "correlated", "quadratic", "bn-net")
#: ``ridgeline simulate --schedule``: the lr schedules of dynamics.sim.engine.schedule_factor
SIM_SCHEDULES = ("constant", "piecewise", "step")
#: ``ridgeline simulate slices --rule``: the rules dynamics.jobs.slices takes, Page's SGD rules at its
#: TOY_DEFAULTS, the adaptive ones at its ADAPTIVE_DEFAULTS (their best lr on the toy is near 0.03 at
#: α = 0.05; the other slices' y ranges are the same)
SLICE_RULES = ("nesterov", "heavy-ball", "adamw", "adam-l2", "lion", "muon")

#: ``ridgeline transfer --rule``: mirrors dynamics.jobs.transfer.CHOICES (its RULES, TIMESCALE_RULES and
#: RESCALING_RULES, in that order, each rule once)
TRANSFER_RULES = ("nesterov", "heavy-ball", "sgd", "muon", "adamw", "lion", "adam-l2")
#: ``ridgeline transfer --keep``: the hyperparameter left as it is; the other one keeps τ
KEEPS = ("lr", "wd")
#: ``ridgeline transfer --parametrisation``, for width: λ as it is, or λ ∝ 1/width (μP, adaptive rules)
PARAMETRISATIONS = ("standard", "mup")

#: ``ridgeline report --profile``: mirrors the keys of training.report.steps.PROFILES
REPORT_PROFILES = ("quick", "full")
#: ``ridgeline sweep|tune --objective``: what training.search.objectives evaluates
OBJECTIVES = ("quadratic", "train")
#: ``--executor``: where training.search.executors runs the trials
EXECUTORS = ("local", "ray")
#: ``ridgeline tune --method``: training.search.samplers' searches
METHODS = ("coordinate", "tpe", "random")
#: ``ridgeline tune --coordinates``: the axes training.search.tune descends along
COORDINATES = ("rotated", "naive")
#: distinct runs of ``ridgeline tune --method tpe|random`` without --max-runs (a sampler never converges):
#: Page's coordinate descent took 22 runs from his bad start, about as many again refine
SAMPLER_RUNS = 50
