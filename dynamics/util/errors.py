"""The project's own exception: library code raises it, only cli.py turns it into a message."""


class RidgelineError(Exception):
    """A problem the user can fix; its message is one line saying what and how."""
