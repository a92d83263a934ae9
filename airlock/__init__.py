"""airlock: a security gate for changes written by AI coding agents.

Everything installs below this one name (airlock.pipeline, airlock.scanners, airlock.reports), so a user's own
`pipeline` or `reports` package on PYTHONPATH can never stand in for airlock's.
"""

from airlock.pipeline import __version__

__all__ = ["__version__"]
