"""Jobs (layer 4, commands, docs/architecture.md): the work behind each command — config,
checks, file writing, rich tables and plots.

derive, simulate, slices, validate, transfer, forecast. May import every dynamics layer,
figures and training (the same layer, without a circle); only other commands and cli.py
import them.
"""
