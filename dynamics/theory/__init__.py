"""Theory (layer 2): sympy derivations of the weight-norm equilibria and their numbers.

symbolic (white-noise moments, the SGD family), adaptive, correlated, muon, trajectory
(lr-schedule ODE), next_order. May import dynamics.util, dynamics.rules,
dynamics.schedules and dynamics.defaults; never the simulator, analysis, jobs,
training or figures, and no torch at module level.
"""
