"""The inverter simulator reports its plant's exact energy integrals on the control port (`energy`),
the truth the soak checks the readers' counters against: simulated kWh that only grow, stamped
with the wall clock, and a house load that always draws something."""

from __future__ import annotations

import subprocess
import sys
import time

from solarstack.soak.probes import EnergyTruth

CLI = "import sys; from solarstack.cli import main; sys.exit(main())"


def test_energy_on_the_control_port_grows_with_simulated_time() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "sim", "inverter", "--tcp", "0", "--control", "0", "--speed", "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the device endpoint
        control = proc.stdout.readline().split()[-1]  # control tcp://127.0.0.1:PORT
        host, port = control.removeprefix("tcp://").rsplit(":", 1)
        truth = EnergyTruth("inverter", host, int(port))
        truth.sample()
        time.sleep(1.0)
        truth.sample()
        assert truth.errors == 0 and len(truth.samples) == 2
        a, b = truth.samples
        assert 0.5 < b.clock - a.clock < 5.0
        assert set(a.kwh) == {"pv", "load", "grid", "charge", "discharge"}
        assert all(b.kwh[k] >= a.kwh[k] for k in a.kwh)
        # ten simulated minutes of at least the base load (180 W)
        assert b.kwh["load"] - a.kwh["load"] >= 0.18 * (b.clock - a.clock) * 600 / 3600 * 0.9
    finally:
        proc.terminate()
        proc.wait(10)
