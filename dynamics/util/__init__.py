"""Utilities every package uses (not theory): the project's exception and atomic file I/O."""
