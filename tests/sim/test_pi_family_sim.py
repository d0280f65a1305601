"""Every PI-family simulator (PI16, PI17, PI18, PI41): in process, it answers every query its
codec knows with a reply the codec decodes — no NAK, and no setter counted; over TCP through
the device class, the control port's faults reach the device as the typed errors, and the
link recovers. What a family's simulator does beyond that is in its own test_pi<NN>_sim.py."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest
from sim_rig import Rig, simulator

from solarstack.core.errors import CrcError, DeviceTimeout, NakError
from solarstack.devices.pi16 import Pi16Device
from solarstack.devices.pi17 import Pi17Device
from solarstack.devices.pi18 import Pi18Device
from solarstack.devices.pi41 import Pi41Device
from solarstack.protocols import pi16, pi17, pi18, pi41
from solarstack.sim.pi16 import Pi16Inverter
from solarstack.sim.pi17 import Pi17Inverter
from solarstack.sim.pi18 import Pi18Inverter
from solarstack.sim.pi41 import Pi41Inverter


class Family(NamedTuple):
    codec: ModuleType
    simulator: type
    device: type
    status: str  # the live-values query
    crc_fault: bool  # the `crc` fault shows as a CrcError (a PI16 reply may carry no CRC)


FAMILIES = {
    "pi16": Family(pi16, Pi16Inverter, Pi16Device, "QPIGS", False),
    "pi17": Family(pi17, Pi17Inverter, Pi17Device, "GS", True),
    "pi18": Family(pi18, Pi18Inverter, Pi18Device, "GS", True),
    "pi41": Family(pi41, Pi41Inverter, Pi41Device, "QPIGS", False),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_query_the_codec_knows_is_answered(name: str) -> None:
    codec = FAMILIES[name].codec
    inverter = simulator(name, FAMILIES[name].simulator)
    for key, command in codec.COMMANDS.items():
        if command.read_only:
            assert codec.decode(command.text, inverter.handle(codec.encode(command.text))), key
    assert inverter.naks == 0 and inverter.setters == 0


@pytest.mark.parametrize("name", FAMILIES)
def test_faults_from_the_control_port(name: str, tmp_path: Path) -> None:
    family = FAMILIES[name]
    rig = Rig(name, family.device, family.simulator, "tcp", tmp_path)
    try:
        dev = rig.dev
        assert rig.control("fault nak 1") == "ok"
        with pytest.raises(NakError):
            dev.query(family.status)
        if family.crc_fault:
            assert rig.control("fault crc 1") == "ok"
            with pytest.raises(CrcError):
                dev.query(family.status)
        assert rig.control("fault silence 1") == "ok"
        dev.timeout = 0.3
        with pytest.raises(DeviceTimeout):
            dev.query(family.status)
        dev.timeout = 2.0
        assert "battery_capacity" in dev.query(family.status).values  # and back to normal
        assert rig.control("state").startswith("ok time=")
    finally:
        rig.close()
