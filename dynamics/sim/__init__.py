"""Simulator (layer 2, docs/architecture.md): the torch engine that runs the update rules
on toy losses and on a batch-norm network, plus hyperparameter-space geometry.

engine, fused, toys, bnnet, geometry. May import dynamics.util, dynamics.rules,
dynamics.registry and dynamics.theory; never jobs, training or figures.
"""
