"""Errors a user can fix; the CLI prints them as one line and exits 2."""


class UsageError(Exception):
    """Bad usage, a bad config or an input airlock cannot read."""
