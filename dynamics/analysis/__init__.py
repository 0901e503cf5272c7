"""Analysis (layer 2, docs/architecture.md): maths over measured runs and sweep tables, no commands.

ridge (ridge fit), kstudy, relaxation (the fit of τ after a drop), runtable (checked
loaders), validation (the logged run that validate and forecast share). May import
dynamics.util, dynamics.rules, dynamics.registry, dynamics.theory and dynamics.sim;
never jobs, training or figures.
"""
