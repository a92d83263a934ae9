"""Which commands to run when neither the policy nor --run names any: guessed from the change's build files."""

from __future__ import annotations

import json
from pathlib import Path


def detect(workspace: Path) -> tuple[str, ...]:
    def has(name: str) -> bool:
        p = workspace / name
        return p.is_file() and not p.is_symlink()

    cmds: list[str] = []
    if has("pyproject.toml") or has("setup.py"):
        cmds += ["python -m pip install --no-deps --no-build-isolation --no-index -e .", "python -m pytest -q"]
    if has("package.json"):
        cmds.append("npm install --ignore-scripts=false --no-audit --no-fund")
        try:
            scripts = json.loads((workspace / "package.json").read_text(encoding="utf-8")).get("scripts", {})
        except (OSError, ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and "test" in scripts:
            cmds.append("npm test")
    if has("go.mod"):
        cmds += ["go build ./...", "go test ./..."]
    if has("Makefile"):
        cmds.append("make")
    return tuple(cmds)
