"""Simulators: a virtual PI16 inverter on its real wire format, driven by the plant model.

`solarstack sim inverter --protocol pi16 …` (sim/inverter.py: the same options, transport,
pacing, faults and control port as the PI30 simulator). A 5 kW "SUNNY"-class hybrid with
two PV inputs (the third reads `-----`, not fitted, as on every recorded unit). Replies
are built with the PI16 codec (`format_fields`, `reply_frame` with PI30's CRC, which the
recorded units send), but what the device *does* is this module's own:

  * a request is the command text, on the energy-of-a-period queries its three-digit
    decimal sum, and `\\r`, with no CRC; anything else — a wrong sum, an unknown command,
    any setter (PI16 takes none here) — is answered `(NAK`;
  * every query the codec knows is answered from the plant's state: QPIGS's grid power
    is a magnitude and the status token's line direction says which way it flows.

A session splits requests at `\\r`, as the PI30 one does (sim/inverter.py); faults look
like PI16's (`(NAK`, a flipped payload byte). Must not import devices/ or services/.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Value
from solarstack.protocols import pi16
from solarstack.protocols.pi16 import enums
from solarstack.sim.inverter import Pi30Session, Refused
from solarstack.sim.pi17 import HourlyLedger
from solarstack.sim.plant import Mode, Plant, PlantState

SERIAL = "96131801100057"

RATINGS: Mapping[str, Value] = {  # QPIRI
    "rated_grid_voltage": 230.0,
    "rated_input_frequency": 50.0,
    "rated_input_current": 21.7,
    "rated_ac_output_voltage": 230.0,
    "rated_ac_output_current": 21.7,
    "rated_mppt_current": 18.0,
    "rated_battery_voltage": 48.0,
    "mppt_strings": 2,
    "machine_type": "hybrid",
    "topology": "transformerless",
}
_IDENTITY: Mapping[str, Mapping[str, Value]] = {
    "QPI": {"protocol_id": "PI16"},
    "QID": {"serial_number": SERIAL},
    "QVFW": {"main_cpu_firmware": "00000.27"},
    "QVFW2": {"secondary_cpu_firmware": "00000.30"},
}
_MODE = {Mode.LINE: "line", Mode.BATTERY: "battery", Mode.FAULT: "fault"}
#: The plant's warning names -> QPIWS bits.
_WARNINGS = {
    "battery_low": "battery_low",
    "battery_under_shutdown": "battery_under",
    "overload": "overload",
    "over_temperature": "over_temperature",
    "fan_locked": "fan_locked",
}


class Pi16Inverter:
    """The virtual PI16 device: ratings, PV energy ledger and the plant it runs on."""

    def __init__(self, plant: Plant, *, serial: str = SERIAL) -> None:
        self.plant = plant
        self.serial = serial
        self.ledger = HourlyLedger()
        self.requests = 0
        self.naks = 0
        #: Setter frames the unit took (PI16 takes none here: every one is NAKed, never counted).
        self.setters = 0

    def handle(self, request: bytes) -> bytes:
        """One request frame (up to its `\\r`) -> the reply frame."""
        self.requests += 1
        try:
            text = _unframe(request)
            spec = pi16.lookup(text)
            return pi16.reply_frame(pi16.format_fields(text, self.query(spec.name, text)))
        except (Refused, ConfigError, ValueError, KeyError):
            self.naks += 1
            return pi16.ack_frame(False)

    def step(self) -> PlantState:
        state = self.plant.step()
        self.ledger.add(state)
        return state

    def query(self, name: str, command: str) -> dict[str, Value]:
        s = self.step()
        if name in _IDENTITY:
            return {**_IDENTITY[name], **({"serial_number": self.serial} if name == "QID" else {})}
        if name == "QPIRI":
            return dict(RATINGS)
        if name == "QPIGS":
            return self._qpigs(s)
        if name == "QMOD":
            return {"mode": _MODE[s.mode]}
        if name == "QPIWS":
            flagged = {_WARNINGS[w] for w in s.warnings if w in _WARNINGS}
            if s.mode is Mode.FAULT:
                flagged.add("device_fault")
            return {key: key in flagged for _, key in enums.WARNING_BITS}
        # QEY / QEM / QED / QEH: the text carries the period's digits
        return {pi16.table(command)[0].key: self.ledger.kwh(command[3:])}

    def _qpigs(self, s: PlantState) -> dict[str, Value]:
        grid = round(s.grid_power_w)
        discharging = s.battery_current < -0.5
        return {
            "ac_input_voltage": round(s.grid_voltage, 1),
            "grid_output_power": grid,  # a magnitude: the line direction below says which way
            "ac_input_frequency": round(s.grid_frequency, 1),
            "grid_output_current": round(s.grid_power_w / (s.grid_voltage or 230.0), 1),
            "ac_output_voltage": round(s.output_voltage, 1),
            "ac_output_active_power": round(s.load_power_w),
            "ac_output_frequency": round(s.output_frequency, 1),
            "ac_output_current": round(s.load_apparent_va / (s.output_voltage or 230.0), 1),
            "ac_output_load": round(s.load_percent),
            "pbus_voltage": 415.0,
            "sbus_voltage": 415.0,
            "battery_voltage": round(s.battery_voltage, 1),
            "battery_capacity": round(s.soc),
            "pv_input_power": round(s.pv_power_w),
            "pv2_input_power": 0,
            "pv_input_voltage": round(s.pv_voltage, 1),
            "pv2_input_voltage": 0.0,
            "max_temperature": round(s.inverter_celsius, 1),
            "grid_connected": s.grid_available,
            "load_on": s.load_power_w > 0,
            # b4 b3 have no "idle": `00` means no battery, so a resting battery reads as charging
            "battery_power_direction": "discharge" if discharging else "charge",
            "converter_power_direction": "dc_to_ac" if s.mode is Mode.BATTERY or discharging else "ac_to_dc",
            "line_power_direction": "input" if grid > 0 else "output",  # 0 W either way when idle
        }


def _unframe(request: bytes) -> str:
    """The command text of a well-formed request (exactly what the codec sends for that
    text, with the decimal sum where due), else Refused."""
    if not request.endswith(b"\r") or len(request) < 3:
        raise Refused("not a PI16 request")
    rest = request[:-1].decode("ascii", "replace")
    for text in (rest, rest[:-3]):  # the energy queries end in three digits of sum
        try:
            if pi16.encode(text) == request:
                return text
        except ConfigError:
            continue
    raise Refused(f"{request[:24]!r} is not a PI16 request this unit knows")


class Pi16Session(Pi30Session):
    """One client conversation (requests end at `\\r`); PI16's faults."""

    def nak(self) -> bytes | None:
        return pi16.ack_frame(False)

    def garbage(self, rng: random.Random) -> bytes:
        # Noise up to a `\r` (a bad frame, not a timeout); never a `(` start.
        noise = bytes(rng.choice([*range(0x01, 0x0D), *range(0x0E, 0x28), *range(0x29, 0x100)]) for _ in range(12))
        return noise + b"\r"
