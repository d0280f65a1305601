"""The bare-metal units (systemd/) pass `systemd-analyze verify`: no unknown keys or bad
values. The one complaint allowed is the install path of the solarstack venv, which exists
only after the install steps in docs/install-pi.md. The instances cover every service the
CLI can run, and the broker unit runs the shipped entrypoint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from solarstack.services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
ALLOWED = "Command /opt/solarstack/venv/bin/solarstack is not executable"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_units_verify(tmp_path: Path, service: str) -> None:
    for unit in UNITS.iterdir():
        shutil.copy(unit, tmp_path / unit.name)
    (tmp_path / f"solarstack@{service}.service").symlink_to("solarstack@.service")
    names = [f"solarstack@{service}.service", "solarstack-mosquitto.service", "solarstack.target"]
    result = subprocess.run(
        ["systemd-analyze", "verify", *names], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and ALLOWED not in line]
    assert not complaints, "\n".join(complaints)


def test_broker_unit_runs_the_shipped_entrypoint() -> None:
    unit = (UNITS / "solarstack-mosquitto.service").read_text()
    assert "/etc/solarstack/mosquitto/entrypoint.sh" in unit
    assert "MOSQUITTO_ACL_TEMPLATE=/etc/solarstack/mosquitto/acl.template" in unit
    install = (ROOT / "docs" / "install-pi.md").read_text()
    assert "mosquitto/acl.template mosquitto/entrypoint.sh /etc/solarstack/mosquitto/" in install
