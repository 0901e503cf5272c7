"""Analysis (layer 4): maths over measured runs and sweep tables, no commands.

ridge (ridge fit), kstudy, runtable (checked loaders). May import dynamics.util,
dynamics.rules, dynamics.schedules, dynamics.defaults, dynamics.theory and
dynamics.sim; never jobs, training or figures.
"""
