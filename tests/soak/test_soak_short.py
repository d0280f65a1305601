"""The soak in CI: the whole simulated stack through every kind of fault once, in a few minutes.

The same harness as `make soak` (src/solarstack/soak/, docs/soak.md) with the SHORT profile:
1.6 simulated hours at 30x (3.2 min of faults: every kind once, every simulator unplugged),
every reader polling every 2 s (a simulated minute). It asserts what the full run reports:
nothing lost, nothing doubled, every reader back within one poll after each fault, energy
totals never decreasing and agreeing with the plant's own integral (within 1 % once six
simulated hours are covered, which a run this short does not reach: within 5 % here, enough to
catch a counter off by a poll or by the speed-up). The report and plot land in artifacts/soak/
like a full run's.

Within one poll holds for a broker restart too (a reader retries the broker at least twice a
poll: core/mqtt.py `reconnect_delay_for`) and for every reader's device coming back (breakers
probe at the next poll: core/poller.py `CircuitBreaker.per_poll`), with the shipped defaults:
the harness scales the poll, not the breakers.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from solarstack.soak.runner import options, soak

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261202

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(), reason="mosquitto missing"
    ),
    pytest.mark.skipif(
        shutil.which("influxd") is None and shutil.which("victoria-metrics") is None, reason="no sink installed"
    ),
]


def test_short_soak_loses_nothing_and_recovers_within_one_poll(tmp_path: Path) -> None:
    opts = options(
        [
            "--short",
            *("--seed", str(SEED)),
            *("--hours", "1.6"),
            *("--speed", "30"),
            *("--poll", "2"),
            *("--workdir", str(tmp_path / "work")),
            *("--out", str(ROOT / "artifacts" / "soak")),
        ]
    )
    began = time.monotonic()
    report = soak(opts)
    print(f"short soak: {time.monotonic() - began:.0f} s wall")
    text = (ROOT / "artifacts" / "soak" / f"soak-{SEED}.txt").read_text()
    print(text)
    unplugged = {label.split()[1] for _, label, kind in report.events if kind == "unplug"}
    assert unplugged == {"sim-inverter", "sim-bms", "sim-weather", "sim-hoymiles"}
    d = report.delivery
    assert sum(report.faults.values()) >= 10, "every kind of fault once"
    assert d.published > 500, "the readers published through the run"
    assert (d.lost, d.doubled, d.foreign) == (0, 0, 0), text
    late = [r for r in report.recoveries if not r.within_poll]
    assert not late, text
    assert report.counters_checked > 0 and not report.drops, text
    assert report.energies, "the plant's own integral was read"
    assert report.energy_ok, text
    assert not report.unexpected, text
