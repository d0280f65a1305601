"""The soak in CI: the whole simulated stack through every kind of fault once, in a few minutes.

The same harness as `make soak` (src/solarstack/soak/, docs/soak.md) with the SHORT profile:
1.25 simulated hours at 30x (2.5 min of faults), every reader polling every 2 s (a simulated
minute). It asserts what the full run reports: nothing lost, nothing doubled, every reader back
within one poll after each fault, energy totals never decreasing and agreeing with the plant's
own integral (within 1 % once six simulated hours are covered, which a run this short does not
reach: within 5 % here, enough to catch a counter off by a poll or by the speed-up). The report
and plot land in artifacts/soak/ like a full run's.

What the full soak found and this test therefore does not claim (docs/soak.md, "Known findings"):
- after a broker restart the readers come back on their MQTT reconnect backoff (core/mqtt.py: a
  first retry after 0.5-1.5 s, doubling), not within a 2 s poll: held to that backoff instead;
- after its device is unplugged, the weather reader waits about a minute and the Hoymiles reader
  about five before they fetch again, far beyond one poll and this test's window: the pinned
  seed's one unplug is a stream simulator's (asserted below, so a schedule change says why).
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
            *("--hours", "1.25"),
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
    unplugged = [label for _, label, kind in report.events if kind == "unplug"]
    assert [u.split()[1] for u in unplugged] == ["sim-bms"], f"the seed now unplugs {unplugged}: see the docstring"
    d = report.delivery
    assert sum(report.faults.values()) >= 10, "every kind of fault once"
    assert d.published > 500, "the readers published through the run"
    assert (d.lost, d.doubled, d.foreign) == (0, 0, 0), text
    late = [r for r in report.recoveries if not r.within_poll and r.kind != "broker-restart"]
    assert not late, text
    # down 2-3 s: reconnect attempts come d, 3d, 7d … s after the drop (d = 0.5-1.5 s), so the next
    # one is at most 4.5 s after the broker is back; then a state within a poll (+ slack)
    slow = [r for r in report.recoveries if r.kind == "broker-restart" and (r.seconds is None or r.seconds > 7.5)]
    assert not slow, text
    assert report.counters_checked > 0 and not report.drops, text
    assert report.energies, "the plant's own integral was read"
    assert report.energy_ok, text
    assert not report.unexpected, text
