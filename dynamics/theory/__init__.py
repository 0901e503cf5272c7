"""Theory (layer 1): sympy derivations of the weight-norm equilibria and their numbers.

core (symbols, Formula, Prediction, tidy, leading_order), moments (the one second-moment map
builder, ``moment_map(rule, noise)``), symbolic (white noise, the SGD family), correlated,
adaptive, muon, trajectory (lr-schedule ODE), next_order, and dispatch on top (``predict``,
``derive``, ``equilibrium``, ``rescaling_symmetry``, ``init_follow_exponent`` for any rule).
Imports run one way: core → moments → symbolic → correlated; core → moments → adaptive → muon;
all of them → dispatch, which none of them imports. May import dynamics.util, dynamics.rules and
dynamics.registry; never the simulator, analysis, jobs,
training or figures, and no torch at module level.
"""
