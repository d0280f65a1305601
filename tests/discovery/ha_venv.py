"""Test helpers: Home Assistant's own validator, run from its cached venv.

Each Home Assistant line lives in a venv of its own, built once by install_ha.sh and
cached: 2024.1.6 (Python 3.11; per-entity discovery, the headless run) and 2025.4.4
(Python 3.13; device-based discovery parsed by HA itself). Where to find one: its
environment variable, else /var/cache/solarstack-test/<venv>, else
~/.cache/solarstack/<venv>. Absent: on CI (CI=true) `ha_python()` builds it, because CI
must judge our discovery with real HA; elsewhere the calling test is skipped with the
command that builds it.

Plain functions, not a conftest.py: test modules elsewhere import `conftest` by name, and
a second conftest module in the session would shadow the root one for them. Each test
module wraps these in its own small fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
NO_PYTHON = 3  # install_ha.sh: the line's Python is not on this machine
#: line -> (release, venv env override, default venv); install_ha.sh knows the same.
LINES = {
    "2024.1": ("2024.1.6", "SOLARSTACK_HA_VENV", "/var/cache/solarstack-test/ha-venv"),
    "2025.4": ("2025.4.4", "SOLARSTACK_HA2025_VENV", "/var/cache/solarstack-test/ha-venv-2025.4"),
}


def _candidates(line: str) -> list[str]:
    _, env, default = LINES[line]
    home = str(Path.home() / ".cache/solarstack" / Path(default).name)
    return [c for c in (os.environ.get(env), default, home) if c]


def ha_python(line: str = "2024.1") -> Path:
    """The HA venv's python; builds the venv on CI, skips the test elsewhere when absent."""
    release = LINES[line][0]
    for candidate in _candidates(line):
        if (Path(candidate) / f".solarstack-ha-{release}").exists():
            return Path(candidate) / "bin" / "python"
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip(f"Home Assistant {release} venv not installed: run {HERE / 'install_ha.sh'} {line}")
    target = _candidates(line)[0]
    print(f"building the Home Assistant {release} venv in {target}", file=sys.stderr)
    built = subprocess.run([str(HERE / "install_ha.sh"), line, target], timeout=3000)
    if built.returncode == NO_PYTHON:
        pytest.skip(f"Home Assistant {release} needs a Python this machine does not have")
    assert built.returncode == 0, f"install_ha.sh {line} failed ({built.returncode})"
    return Path(target) / "bin" / "python"


class HaChecker:
    """ha_schema_check.py serving jobs in one process (HA's imports take a second or more).

    A job is one JSON line in, one JSON line out; answers are remembered per input.
    """

    def __init__(self, python: Path) -> None:
        self._proc = subprocess.Popen(
            [str(python), str(HERE / "ha_schema_check.py"), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._seen: dict[str, str] = {}

    def __call__(
        self,
        messages: Iterable[tuple[str, str]],
        states: Mapping[str, str] | None = None,
        discovery_prefix: str = "homeassistant",
    ) -> list[dict[str, Any]]:
        job = json.dumps(
            {"messages": list(messages), "states": dict(states or {}), "discovery_prefix": discovery_prefix}
        )
        if job not in self._seen:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(job + "\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()  # pytest-timeout bounds a checker that hangs
            assert answer, f"checker died: {self._proc.stderr.read() if self._proc.stderr else ''}"
            self._seen[job] = answer
        return json.loads(self._seen[job])  # a fresh copy for every caller

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
