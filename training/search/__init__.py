"""Hyperparameter search: sweeps of 2-D slices and Page's coordinate-descent tuner.

``records`` (one JSON record per finished trial, keyed by its settings), ``objectives``
(what a trial computes: the quadratic toy or a real training run), ``executors`` (local
processes or Ray), ``options`` (pass-through ``key=value`` options), ``sweep`` and ``tune``.
"""
