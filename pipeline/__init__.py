"""airlock: a security gate for changes written by AI coding agents."""

__version__ = "0.1.0"
