"""Fixtures for the discovery tests: Home Assistant's own validator in its cached venv.

Home Assistant 2024.1.6 lives in a venv of its own (install_ha.sh; ~2.5 min once, then
cached). Where to find it: $SOLARSTACK_HA_VENV, else /var/cache/solarstack-test/ha-venv,
else ~/.cache/solarstack/ha-venv. Absent: on CI (CI=true) the fixture builds it, because
CI must judge our discovery with real HA; elsewhere the tests are skipped with the
command that builds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
STAMP = ".solarstack-ha-2024.1.6"
CANDIDATES = (
    os.environ.get("SOLARSTACK_HA_VENV"),
    "/var/cache/solarstack-test/ha-venv",
    str(Path.home() / ".cache/solarstack/ha-venv"),
)

HaCheck = Callable[..., list[dict[str, Any]]]


def _find_venv() -> Path | None:
    for candidate in CANDIDATES:
        if candidate and (Path(candidate) / STAMP).exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def ha_python() -> Path:
    venv = _find_venv()
    if venv is None:
        if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
            pytest.skip(f"Home Assistant venv not installed: run {HERE / 'install_ha.sh'} (about 2.5 min, once)")
        target = next(c for c in CANDIDATES if c)
        print(f"building the Home Assistant venv in {target}", file=sys.stderr)
        subprocess.run([str(HERE / "install_ha.sh"), target], check=True, timeout=900)
        venv = Path(target)
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def ha_check(ha_python: Path) -> Iterator[HaCheck]:
    """Check (topic, payload) messages with ha_schema_check.py in the HA venv.

    One checker process serves the whole session (HA's imports take a second or more);
    a job is one JSON line in, one JSON line out. Answers are remembered per input.
    """
    proc = subprocess.Popen(
        [str(ha_python), str(HERE / "ha_schema_check.py"), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen: dict[str, str] = {}

    def check(
        messages: Iterable[tuple[str, str]],
        states: Mapping[str, str] | None = None,
        discovery_prefix: str = "homeassistant",
    ) -> list[dict[str, Any]]:
        job = json.dumps(
            {"messages": list(messages), "states": dict(states or {}), "discovery_prefix": discovery_prefix}
        )
        if job not in seen:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(job + "\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()  # pytest-timeout bounds a checker that hangs
            assert answer, f"checker died: {proc.stderr.read() if proc.stderr else ''}"
            seen[job] = answer
        return json.loads(seen[job])  # a fresh copy for every caller

    yield check
    proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
