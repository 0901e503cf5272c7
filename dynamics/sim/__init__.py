"""Simulator (layer 3): the torch engine that runs the update rules on toy losses and
on a batch-norm network, plus hyperparameter-space geometry.

engine, fused, toys, bnnet, geometry. May import dynamics.util, dynamics.rules,
dynamics.schedules, dynamics.defaults and dynamics.theory; never analysis, jobs,
training or figures.
"""
