"""Jobs (layer 7): whole commands behind cli.py — config, checks, file writing, rich
tables and plots.

derive, simulate, slices, validate, transfer, forecast. May import every dynamics layer,
the training core and figures; only cli.py imports jobs.
"""
