"""Scripts that run INSIDE the sandbox with the host's read-only Python; standard library only."""
