"""Simulators: a virtual PI30 inverter on the real wire protocol, driven by the plant model.

`solarstack sim inverter --pty | --tcp PORT [--protocol pi30|pi18|pi17|pi16|pi41] [--hid-reports]
[--baud 2400] [--fault crc:3] [--control PORT] [--seed N] [--speed X]` prints the pty
path (or `tcp://127.0.0.1:PORT`) as its first stdout line and serves until SIGTERM/SIGINT.
`--protocol pi18` serves a PI18 unit (sim/pi18.py), `pi17` a PI17 one (sim/pi17.py), `pi16`
a PI16 one (sim/pi16.py), `pi41` a split-phase LV5048-class one (sim/pi41.py, on a 120 V /
60 Hz plant), each on the same transport, pacing, faults and control port; the rest of this
docstring is about PI30, the default.

`--variant revo|mst|m044|m045` (PI30) answers in that firmware variant's layouts
(protocols/pi30/variants.py: REVO's QPIGS/QPIRI, MST's QPIGS2, …); the device is the same.

`--units N` (PI30, 2..9) makes it the master of a parallel system of N units: QPGS0..N-1
answer for each unit, QPIGS for the master (unit 0) alone. The plant is the whole system:
unit n gets its own share of the PV (the arrays differ: `pv_shares`), an even share of the
load, grid and losses, and the battery power that balances them, so each unit's own power
balance holds and the units add up to the plant (up to the wire's integer rounding).

The frames are built with the PI30 codec (`format_fields`, `reply_frame`), but what the
device *does* is this module's own: it checks request CRCs (both adjustment rules) and
NAKs bad ones, answers every query the codec knows from the plant's state, applies
setters under the device's own rules — the protocol PDF's ranges for a 48 V unit,
charge currents only from its QMCHGCR/QMUCHGCR lists — and NAKs anything else, so a
range check missing from our setter code shows up as a NAK in tests. `setter_log` records
the setter frames that arrived and whether each was ACKed, so a test can tell "refused
before the wire" from "NAKed by the device". Its verdicts are pinned to the documented
frames by tests/sim/test_pi30_setter_frames.py (a rule wrong in both our validator and
here must not pass).

Shared with the other families' simulators: `Refused`, `WireCount` (the request, NAK and
setter counts and `setter_log`; PI17, PI18, PI41), `CrcInverter` (the `(`-framed request /
reply loop with PI30's CRC, and the plant's controls from PI30's setting keys; PI41) and
`single_unit` (PI18, PI41).
Transport, pacing and faults live in sim/stream.py and the modules it names. Must not import devices/ or services/.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, Kind, Value
from solarstack.core.log import setup_logging_from
from solarstack.protocols import pi30
from solarstack.protocols.pi30 import crc, enums
from solarstack.sim.faults import parse_fault
from solarstack.sim.pacing import Pacing
from solarstack.sim.plant import ChargerPriority, Mode, OutputPriority, Plant, PlantConfig, PlantState
from solarstack.sim.session import BaseSession
from solarstack.sim.stream import StreamServer
from solarstack.sim.tcp import tcp_port

SERIAL = "92932004102443"
NOMINAL = 48.0
CHARGE_CURRENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
UTILITY_CHARGE_CURRENTS = (2, 10, 20, 30, 40, 50, 60)
#: Setter voltage ranges of a 48 V unit (Voltronic PI30 protocol PDF, as in PROTOCOLS.md):
#: command -> (low, high, QPIRI field, 0 allowed). 12/24 V units scale them.
VOLTAGE_SETTERS: Mapping[str, tuple[float, float, str, bool]] = {
    "PBCV": (44.0, 51.0, "battery_recharge_voltage", False),
    "PBDV": (48.0, 58.0, "battery_redischarge_voltage", True),
    "PBFT": (48.0, 58.4, "battery_float_voltage", False),
    "PCVV": (48.0, 58.4, "battery_bulk_voltage", False),
    "PSDV": (40.0, 48.0, "battery_under_voltage", False),
}
#: Two-digit selector setters: command -> (QPIRI field, the digits the device takes).
SELECT_SETTERS: Mapping[str, tuple[str, str]] = {
    "POP": ("output_source_priority", "012"),
    "PCP": ("charger_source_priority", "0123"),
    "PGR": ("input_voltage_range", "01"),
    "PBT": ("battery_type", "012"),
    "POPLG": ("operation_logic", "012"),
}
_OUTPUT = {"utility": OutputPriority.UTILITY, "solar": OutputPriority.SOLAR, "sbu": OutputPriority.SBU}
_CHARGER = {
    "utility": ChargerPriority.UTILITY,
    "solar": ChargerPriority.SOLAR,
    "solar_and_utility": ChargerPriority.SOLAR_UTILITY,
    "solar_only": ChargerPriority.SOLAR_ONLY,
}
_MODE = {Mode.LINE: "line", Mode.BATTERY: "battery", Mode.FAULT: "fault"}

DEFAULT_SETTINGS: Mapping[str, Value] = {
    "rated_grid_voltage": 230.0,
    "rated_input_current": 21.7,
    "rated_ac_output_voltage": 230.0,
    "rated_ac_output_frequency": 50.0,
    "rated_ac_output_current": 21.7,
    "rated_ac_output_apparent_power": 5000,
    "rated_ac_output_active_power": 5000,
    "rated_battery_voltage": NOMINAL,
    "battery_recharge_voltage": 48.0,
    "battery_under_voltage": 42.0,
    "battery_bulk_voltage": 56.4,
    "battery_float_voltage": 54.0,
    "battery_type": "user",
    "max_ac_charging_current": 30,
    "max_charging_current": 60,
    "input_voltage_range": "appliance",
    "output_source_priority": "sbu",
    "charger_source_priority": "solar",
    "max_parallel_units": 0,
    "machine_type": "off_grid",
    "topology": "transformerless",
    "output_mode": "single",
    "battery_redischarge_voltage": 52.0,
    "pv_ok_condition": "any_unit",
    "pv_power_balance": "charge_plus_load",
    "max_cv_charging_time": 120,
    "operation_logic": "automatic",
    "max_discharging_current": 150,
}
DEFAULT_FLAGS: Mapping[str, bool] = {
    "buzzer": True,
    "overload_bypass": True,
    "power_saving": False,
    "lcd_return_to_default": True,
    "overload_restart": False,
    "over_temperature_restart": False,
    "backlight": True,
    "primary_source_interrupt_alarm": True,
    "fault_code_record": False,
}


class Refused(Exception):
    """The device answers NAK."""


class WireCount:
    """What a virtual inverter counts at its wire (Answers' `requests`, `naks`, `setters`),
    and the setter frames that arrived with whether each was ACKed (the latest 256): what a
    test checks to know a refused value never reached the device. Every family's sim keeps it."""

    def __init__(self) -> None:
        self.requests = 0
        self.naks = 0
        self.setter_log: deque[tuple[str, bool]] = deque(maxlen=256)
        self.setters = 0

    def counted(self, text: str, *, setter: bool, refused: bool) -> None:
        """One answered request: a NAK counts, a setter frame is logged."""
        if refused:
            self.naks += 1
        if setter:
            self.setters += 1
            self.setter_log.append((text, not refused))


class CrcInverter(WireCount, ABC):
    """A `(`-framed virtual inverter with PI30's CRC (PI30, PI41): a request is the command
    text, its CRC and `\r`; the reply is `(` payload CRC `\r`, `(ACK` or `(NAK`. A family
    names its codec (`lookup`, `format_fields`) and what the device does (`query`, `apply`)."""

    plant: Plant
    bump_zero: bool

    @abstractmethod
    def lookup(self, command: str) -> pi30.Command:
        """The command's row; ConfigError (a NAK) for an unknown one."""

    @abstractmethod
    def format_fields(self, command: str, values: Mapping[str, Value]) -> str: ...

    @abstractmethod
    def query(self, name: str, command: str) -> dict[str, Value]: ...

    @abstractmethod
    def apply(self, name: str, arg: str) -> None:
        """Apply one setter (its text matched the command's pattern) or raise Refused."""

    def is_setter(self, command: str) -> bool:
        return not self.lookup(command).read_only

    def handle(self, request: bytes) -> bytes:
        """One request frame (up to its `\r`) -> the reply frame."""
        self.requests += 1
        body, received = request[:-3], request[-3:-1]
        setter = False
        command = ""
        try:
            if len(request) < 4 or not crc.check(body, received):
                raise Refused("bad request CRC")
            command = body.decode("ascii", "replace")
            setter = self.is_setter(command)
            payload = self.answer(command)
        except (Refused, ConfigError, ValueError, KeyError):
            # ValueError/KeyError: an argument the pattern let through but this unit cannot take.
            payload = "NAK"
        self.counted(command, setter=setter, refused=payload == "NAK")
        return pi30.reply_frame(payload, bump_zero=self.bump_zero)

    def answer(self, command: str) -> str:
        """The reply payload for command text, or Refused (NAK)."""
        spec = self.lookup(command)  # ConfigError: unknown -> NAK
        if not spec.read_only:
            self.apply(spec.name, command[len(spec.name) :])
            return "ACK"
        return self.format_fields(command, self.query(spec.name, command))

    def sync_plant(self, settings: Mapping[str, Value]) -> None:
        """The plant's controls from the unit's settings (PI30's keys and labels)."""
        self.plant.set_controls(
            output_priority=_OUTPUT[str(settings["output_source_priority"])],
            charger_priority=_CHARGER[str(settings["charger_source_priority"])],
            back_to_grid_voltage=settings["battery_recharge_voltage"],
            back_to_battery_voltage=settings["battery_redischarge_voltage"],
            cutoff_voltage=settings["battery_under_voltage"],
            bulk_voltage=settings["battery_bulk_voltage"],
            float_voltage=settings["battery_float_voltage"],
            max_charging_current=float(settings["max_charging_current"]),  # type: ignore[arg-type]
            max_utility_charging_current=float(settings["max_ac_charging_current"]),  # type: ignore[arg-type]
        )


def single_unit(unit: str) -> None:
    """A setter's machine number on a single unit: 0, else Refused."""
    if unit != "0":
        raise Refused(f"machine number {unit}: a single unit is 0")


@dataclass
class _Ledger:
    """PV and load energy by day, for QET/QEY/QEM/QED and QLT/…; Wh."""

    pv: dict[date, float]
    load: dict[date, float]
    last_pv_kwh: float = 0.0
    last_load_kwh: float = 0.0


class Pi30Inverter(CrcInverter):
    """The virtual device: settings, flags, energy ledger and the plant it runs on.

    One instance is shared by every connection (a TCP reconnect sees the same settings).
    """

    def __init__(
        self, plant: Plant, *, serial: str = SERIAL, bump_zero: bool = False, units: int = 1, variant: str | None = None
    ) -> None:
        if not 1 <= units <= 9:
            raise ValueError(f"--units {units}: a parallel system has 2 to 9 units (QPGS0..QPGS8)")
        self.plant = plant
        #: A PI30 firmware variant (`--variant revo`): replies take its layout (pi30 variants.py).
        self.variant = pi30.find_variant(variant).name if variant else None
        self.serial = serial
        self.bump_zero = bump_zero
        self.units = units
        self.pv_shares = pv_shares(units)
        self.settings: dict[str, Value] = dict(DEFAULT_SETTINGS)
        if units > 1:
            self.settings.update(output_mode="parallel", max_parallel_units=units)
        self.flags: dict[str, bool] = dict(DEFAULT_FLAGS)
        self.calibration_v = 0.0
        self.clock_offset = timedelta(0)
        self.bms_control = "000"
        self.ledger = _Ledger({}, {})
        super().__init__()
        self._sync_plant()

    # -- wire level ----------------------------------------------------------------------

    def lookup(self, command: str) -> pi30.Command:
        return pi30.lookup(command, self.variant)

    def format_fields(self, command: str, values: Mapping[str, Value]) -> str:
        return pi30.format_fields(command, values, self.variant)

    def is_setter(self, command: str) -> bool:
        return not pi30.is_query(command)  # an unknown command is logged with the setters (NAKed)

    # -- queries -------------------------------------------------------------------------

    def step(self) -> PlantState:
        state = self.plant.step()
        day = state.time.date()
        led = self.ledger
        led.pv[day] = led.pv.get(day, 0.0) + (state.pv_energy_kwh - led.last_pv_kwh) * 1000
        led.load[day] = led.load.get(day, 0.0) + (state.load_energy_kwh - led.last_load_kwh) * 1000
        led.last_pv_kwh, led.last_load_kwh = state.pv_energy_kwh, state.load_energy_kwh
        return state

    def query(self, name: str, command: str) -> dict[str, Value]:
        s = self.step()
        if name == "QPIGS":
            return self._qpigs(self.unit_view(s, 0))  # the master answers for itself
        if name == "QPIGS2":
            # an MST unit's QPIGS2 runs to its PV total (field 11): all 12 fields on the wire
            return {
                "pv2_input_current": 0.0,
                "pv2_input_voltage": 0.0,
                "pv2_input_power": 0,
                "pv_total_charging_power": 0,
            }
        if name == "QMOD":
            return {"mode": _MODE[s.mode]}
        if name == "QPIWS":
            return {key: key in s.warnings for _, key in enums.QPIWS_BITS}
        if name == "QPIRI":
            # REVO's field 8 is its low-voltage alarm point (its document's example value)
            return {"battery_low_alarm_voltage": 44.0, **self.settings}
        if name == "QFLAG":
            return dict(self.flags)
        if name == "QDI":
            return {f"default_{k}": v for k, v in {**DEFAULT_SETTINGS, **_qdi_extras()}.items()}
        if name == "QMCHGCR":
            return {"charging_current_options": list(CHARGE_CURRENTS)}
        if name == "QMUCHGCR":
            return {"utility_charging_current_options": list(UTILITY_CHARGE_CURRENTS)}
        if name in _IDENTITY:
            key, value = _IDENTITY[name]
            return {key: self.serial if value is None else value}
        if name == "QBOOT":
            return {"dsp_bootstrap": False}
        if name == "QOPM":
            return {"output_mode": self.settings["output_mode"]}
        if name == "QPGSn":
            unit = int(command[4:])
            if unit >= self.units:
                raise Refused("single unit: only QPGS0" if self.units == 1 else f"no unit {unit} in this system")
            return self._qpgs(s, unit)
        if name == "Q1":
            return self._q1(s)
        if name == "QBEQI":
            return dict(_QBEQI)
        if name == "QLED":
            return dict(_QLED)
        if name == "QT":
            return {"device_time": (s.time + self.clock_offset).strftime("%Y%m%d%H%M%S")}
        if name in ("QOPPT", "QCHPT"):
            return self._timed(name)
        if name in _ENERGY:
            return self._energy(name, command)
        if name == "QBMS":
            return self._qbms(s)
        # A query the codec learned after this simulator: answer its shape with neutral
        # values (zeros, the first enum option) rather than NAK, so readers keep working.
        return {f.key: _neutral(f) for f in pi30.table(command, self.variant)}

    def _qpigs(self, s: PlantState) -> dict[str, Value]:
        volts = round(s.battery_voltage + self.calibration_v, 2)
        charging = s.battery_current > 0.5
        return {
            "ac_input_voltage": round(s.grid_voltage, 1),
            "ac_input_frequency": s.grid_frequency,
            "ac_output_voltage": round(s.output_voltage, 1),
            "ac_output_frequency": s.output_frequency,
            "ac_output_apparent_power": round(s.load_apparent_va),
            "ac_output_active_power": round(s.load_power_w),
            "ac_output_load": round(s.load_percent),
            "bus_voltage": round(s.bus_voltage),
            "battery_voltage": volts,
            "battery_charging_current": round(max(0.0, s.battery_current)),
            "battery_capacity": round(s.soc),
            "heat_sink_temperature": round(s.inverter_celsius),
            "pv_input_current": round(s.pv_current, 1),
            "pv_input_voltage": round(s.pv_voltage, 1),
            "battery_voltage_scc": volts if s.pv_power_w > 0 else 0.0,
            "battery_discharge_current": round(max(0.0, -s.battery_current)),
            "sbu_priority_version": True,
            "configuration_changed": False,
            "scc_firmware_updated": False,
            "load_on": s.load_power_w > 0,
            "battery_voltage_steady": not charging,
            "charging": charging,
            "scc_charging": s.charging_from_pv,
            "ac_charging": s.charging_from_grid,
            "battery_voltage_offset_for_fans": 0.0,
            "eeprom_version": "00",
            "pv_input_power": round(s.pv_power_w),
            # REVO's layout: PV power where PI30 has PV current, and the day's PV energy
            "pv_generating_power": round(s.pv_power_w),
            "inverter_pv_energy_today": round(self.ledger.pv.get(s.time.date(), 0.0) / 1000, 3),
            "charging_to_float": charging and s.soc >= 99.0,
            "switched_on": s.mode is not Mode.FAULT,
            "dustproof_installed": False,
        }

    def unit_view(self, s: PlantState, unit: int) -> PlantState:
        """The plant as unit `unit` of the system sees it (the plant itself for one unit)."""
        return s if self.units == 1 else unit_view(s, self.pv_shares, unit)

    def unit_serial(self, unit: int) -> str:
        return self.serial if unit == 0 else str(int(self.serial) + unit).zfill(len(self.serial))

    def _qpgs(self, whole: PlantState, unit: int = 0) -> dict[str, Value]:
        s = self.unit_view(whole, unit)
        q = self._qpigs(s)
        views = [self.unit_view(whole, n) for n in range(self.units)]
        return {
            "parallel_valid": True,
            "serial_number": self.unit_serial(unit),
            "mode": _MODE[s.mode],
            "fault_code": "00",
            "ac_input_voltage": q["ac_input_voltage"],
            "ac_input_frequency": q["ac_input_frequency"],
            "ac_output_voltage": q["ac_output_voltage"],
            "ac_output_frequency": q["ac_output_frequency"],
            "ac_output_apparent_power": q["ac_output_apparent_power"],
            "ac_output_active_power": q["ac_output_active_power"],
            "ac_output_load": q["ac_output_load"],
            "battery_voltage": round(s.battery_voltage, 1),
            "battery_charging_current": q["battery_charging_current"],
            "battery_capacity": q["battery_capacity"],
            "pv_input_voltage": q["pv_input_voltage"],
            "total_charging_current": sum(round(max(0.0, v.battery_current)) for v in views),
            "total_ac_output_apparent_power": round(whole.load_apparent_va),
            "total_ac_output_active_power": round(whole.load_power_w),
            "total_ac_output_load": round(whole.load_percent),
            "scc_ok": True,
            "ac_charging": s.charging_from_grid,
            "scc_charging": s.charging_from_pv,
            "line_loss": not s.grid_available,
            "load_on": s.load_power_w > 0,
            "output_mode": self.settings["output_mode"],
            "charger_source_priority": self.settings["charger_source_priority"],
            "max_charging_current": self.settings["max_charging_current"],
            "max_charging_range": CHARGE_CURRENTS[-1],
            "max_ac_charging_current": self.settings["max_ac_charging_current"],
            "pv_input_current": round(s.pv_current),
            "battery_discharge_current": q["battery_discharge_current"],
        }

    def _qbms(self, s: PlantState) -> dict[str, Value]:
        return {
            "bms_link": "connected",
            "bms_battery_capacity": round(s.soc),
            "bms_force_charging": s.soc < 5.0,
            "bms_stop_discharge": s.soc <= 0.5,
            "bms_stop_charge": s.soc >= 99.9,
            "bms_bulk_voltage": self.settings["battery_bulk_voltage"],
            "bms_float_voltage": self.settings["battery_float_voltage"],
            "bms_cut_off_voltage": self.settings["battery_under_voltage"],
            "bms_max_charging_current": self.settings["max_charging_current"],
            "bms_max_discharging_current": self.settings["max_discharging_current"],
        }

    def _q1(self, s: PlantState) -> dict[str, Value]:
        stage = "not_charging"
        if s.battery_current > 0.5:
            stage = "float" if s.soc >= 99.0 else "absorb" if s.soc >= 95.0 else "bulk"
        return {
            "absorb_time_remaining": 0,
            "float_time_remaining": 0,
            "scc_status": "communicating",
            "allow_scc_on": "00",
            "charge_average_current": round(max(0.0, s.battery_current)),
            "scc_pwm_temperature": round(s.inverter_celsius - 3),
            "inverter_temperature": round(s.inverter_celsius),
            "battery_temperature": round(s.pack_celsius[0]),
            "transformer_temperature": round(s.inverter_celsius + 2),
            "gpio13": "0",
            "fan_locked": "fan_locked" in s.warnings,
            "fan_pwm_speed": min(100, max(20, round((s.inverter_celsius - 25) * 3))),
            "scc_charge_power": round(s.pv_power_w),
            "parallel_warning": "0000",
            "sync_frequency": s.output_frequency,
            "charge_stage": stage,
        }

    def _timed(self, name: str) -> dict[str, Value]:
        if name == "QOPPT":
            value: Value = self.settings["output_source_priority"]
            prefix = "output_priority"
        else:
            charger = str(self.settings["charger_source_priority"])
            value = charger if charger in enums.TIMED_CHARGER_PRIORITY.values() else "solar"
            prefix = "charger_priority"
        values: dict[str, Value] = {f"{prefix}_hour_{h:02d}": value for h in range(24)}
        values[f"{prefix}_device"] = value
        values.update({f"{prefix}_order_{n}": value for n in (1, 2, 3)})
        return values

    def _energy(self, name: str, command: str) -> dict[str, Value]:
        key, book = _ENERGY[name]
        ledger = self.ledger.pv if book == "pv" else self.ledger.load
        digits = command[3:]
        if not digits:
            total = sum(ledger.values())
        else:
            total = sum(wh for day, wh in ledger.items() if day.strftime("%Y%m%d").startswith(digits))
        return {key: round(total) / 1000.0}

    # -- setters -------------------------------------------------------------------------

    def apply(self, name: str, arg: str) -> None:
        """Apply one setter (text already matched the command's pattern) or raise Refused."""
        factor = float(self.settings["rated_battery_voltage"] or NOMINAL) / 48.0  # type: ignore[arg-type]
        if name in SELECT_SETTERS:
            key, allowed = SELECT_SETTERS[name]
            self._select(key, arg[-1] if arg[:-1] == "0" else "", allowed)
        elif name in VOLTAGE_SETTERS:
            low, high, key, zero_ok = VOLTAGE_SETTERS[name]
            volts = float(arg)
            lo, hi = round(low * factor, 1), round(high * factor, 1)
            if not ((zero_ok and volts == 0.0) or lo <= volts <= hi):
                raise Refused(f"{name} {volts} outside {lo}-{hi}")
            self.settings[key] = volts
        elif name in ("MCHGC", "MNCHGC", "MUCHGC"):
            amps = int(arg[1:])  # first digit: the parallel unit number
            utility = name == "MUCHGC"
            offered = UTILITY_CHARGE_CURRENTS if utility else CHARGE_CURRENTS
            if amps not in offered:
                raise Refused(f"{name}: {amps} A not offered")
            self.settings["max_ac_charging_current" if utility else "max_charging_current"] = amps
        elif name in ("PE", "PD"):
            by_letter = dict(enums.FLAG_LETTERS)
            for letter in arg:
                self.flags[by_letter[letter]] = name == "PE"
        elif name == "F":
            self.settings["rated_ac_output_frequency"] = float(arg)
        elif name == "POPM":
            self.settings["output_mode"] = enums.OUTPUT_MODE[arg[1]]
        elif name == "PPCP":
            self._select("charger_source_priority", arg[2], "0123")
        elif name == "PSPB":
            self.settings["pv_power_balance"] = enums.PV_POWER_BALANCE[arg]
        elif name == "PPVOKC":
            self.settings["pv_ok_condition"] = enums.PV_OK_CONDITION[arg]
        elif name == "PBATMAXDISC":
            self.settings["max_discharging_current"] = int(arg)
        elif name == "PBATCD":
            self.bms_control = arg
        elif name == "BTA":
            self.calibration_v = int(arg) * 0.05
        elif name == "DAT":
            try:  # yyyymmddhhmmss, or yymmddhhmmss on LV6548-class firmware
                wanted = datetime.strptime(arg, "%Y%m%d%H%M%S" if len(arg) == 14 else "%y%m%d%H%M%S")
            except ValueError:
                raise Refused(f"DAT {arg}: not a date") from None
            now = self.plant.snapshot().time
            self.clock_offset = wanted.replace(tzinfo=now.tzinfo) - now
        elif name == "PF":
            self.settings = dict(DEFAULT_SETTINGS)
            self.flags = dict(DEFAULT_FLAGS)
        elif name == "PSAVE":
            pass  # settings are always "saved" here
        else:
            raise Refused(f"{name} not simulated")
        self._sync_plant()

    def _select(self, key: str, digit: str, allowed: str) -> None:
        if not digit or digit not in allowed:
            raise Refused(f"{key}: {digit!r} not one of {allowed}")
        options = {
            "output_source_priority": enums.OUTPUT_SOURCE_PRIORITY,
            "charger_source_priority": enums.CHARGER_SOURCE_PRIORITY,
            "input_voltage_range": enums.INPUT_VOLTAGE_RANGE,
            "battery_type": enums.BATTERY_TYPE,
            "operation_logic": enums.OPERATION_LOGIC,
        }[key]
        self.settings[key] = options[digit]

    def _sync_plant(self) -> None:
        self.sync_plant(self.settings)


def pv_shares(units: int) -> tuple[float, ...]:
    """Each unit's share of the system's PV: arrays of falling size (1, 1/1.25, 1/1.5 …), so a
    test can tell the units apart; they add up to 1."""
    weights = [1.0 / (1.0 + 0.25 * n) for n in range(units)]
    return tuple(w / sum(weights) for w in weights)


def unit_view(s: PlantState, shares: tuple[float, ...], unit: int) -> PlantState:
    """The plant as unit `unit` of a parallel system sees it: its share of the PV (`shares`,
    see pv_shares), an even share of load, grid and losses, and its own battery balance."""
    pv, even = shares[unit], 1.0 / len(shares)
    pv_w, load_w = s.pv_power_w * pv, s.load_power_w * even
    grid_w, loss_w = s.grid_power_w * even, s.loss_power_w * even
    battery_w = pv_w + grid_w - load_w - loss_w  # this unit's own balance (plant.py's rule)
    return replace(
        s,
        pv_power_w=pv_w,
        pv_available_w=s.pv_available_w * pv,
        pv_current=s.pv_current * pv,
        load_power_w=load_w,
        load_apparent_va=s.load_apparent_va * even,
        load_percent=s.load_percent * even,
        grid_power_w=grid_w,
        loss_power_w=loss_w,
        battery_power_w=battery_w,
        battery_current=battery_w / s.battery_voltage if s.battery_voltage else 0.0,
        charging_from_pv=s.charging_from_pv and pv_w > 0,
    )


def _neutral(field: Field) -> Value:
    if field.kind is Kind.BOOL:
        return False
    if field.kind is Kind.ENUM:
        return next(iter((field.options or {"0": "0"}).values()))
    if field.kind is Kind.TEXT:
        return "0"
    if field.kind is Kind.ARRAY:
        return []
    return 0


def _qdi_extras() -> dict[str, Value]:
    """QDI rows whose names differ from QPIRI's (output ratings, flags as on/off)."""
    f = DEFAULT_FLAGS
    return {
        "ac_output_voltage": DEFAULT_SETTINGS["rated_ac_output_voltage"],
        "ac_output_frequency": DEFAULT_SETTINGS["rated_ac_output_frequency"],
        "buzzer": "on" if f["buzzer"] else "off",
        "power_saving": "on" if f["power_saving"] else "off",
        "overload_restart": "on" if f["overload_restart"] else "off",
        "over_temperature_restart": "on" if f["over_temperature_restart"] else "off",
        "backlight": "on" if f["backlight"] else "off",
        "primary_source_interrupt_alarm": "on" if f["primary_source_interrupt_alarm"] else "off",
        "fault_code_record": "on" if f["fault_code_record"] else "off",
        "overload_bypass": "on" if f["overload_bypass"] else "off",
        "lcd_return_to_default": "on" if f["lcd_return_to_default"] else "off",
    }


#: Identity queries: command -> (field, value; None = the serial number).
_IDENTITY: Mapping[str, tuple[str, str | None]] = {
    "QPI": ("protocol_id", "PI30"),
    "QID": ("serial_number", None),
    "QSID": ("serial_number_long", "14" + SERIAL + "00000000"),
    "QVFW": ("main_cpu_firmware", "00072.70"),
    "QVFW2": ("secondary_cpu_firmware", "00072.70"),
    "QVFW3": ("remote_panel_firmware", "00003.30"),
    "QMN": ("model_name", "MKS2-5000"),
    "QGMN": ("general_model_number", "044"),
}
_ENERGY: Mapping[str, tuple[str, str]] = {
    "QET": ("pv_energy_total", "pv"),
    "QEYyyyy": ("pv_energy_year", "pv"),
    "QEMyyyymm": ("pv_energy_month", "pv"),
    "QEDyyyymmdd": ("pv_energy_day", "pv"),
    "QLT": ("load_energy_total", "load"),
    "QLYyyyy": ("load_energy_year", "load"),
    "QLMyyyymm": ("load_energy_month", "load"),
    "QLDyyyymmdd": ("load_energy_day", "load"),
}
_QBEQI: Mapping[str, Value] = {
    "equalization_enabled": False,
    "equalization_time": 60,
    "equalization_period": 720,
    "equalization_max_current": 30,
    "equalization_voltage": 58.4,
    "equalization_over_time": 120,
    "equalization_active": False,
    "equalization_elapsed_time": 0,
}
_QLED: Mapping[str, Value] = {
    "led_enabled": True,
    "led_speed": "medium",
    "led_effect": "solid",
    "led_brightness": 5,
    "led_colors": 3,
    "led_rgb": "148000211",
}


class Answers(Protocol):
    """What a session and the control hook need of a virtual inverter (any family)."""

    plant: Plant
    requests: int
    naks: int
    setters: int  # setter frames that reached the unit (ACKed or NAKed)

    def handle(self, request: bytes) -> bytes: ...

    def step(self) -> PlantState: ...


class Pi30Session(BaseSession):
    """One client conversation: splits requests at `\\r`, skips HID zero padding."""

    def __init__(self, inverter: Answers) -> None:
        self.inverter = inverter
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        replies: list[bytes] = []
        while True:
            # A USB-HID request arrives as zero-padded 8-byte reports: padding before a frame is not frame.
            self._buf = self._buf.lstrip(b"\x00")
            end = self._buf.find(b"\r")
            if end < 0:
                if len(self._buf) > 512:  # line noise with no end: drop it, like a UART overrun
                    self._buf = b""
                return replies
            request, self._buf = self._buf[: end + 1], self._buf[end + 1 :]
            replies.append(self.inverter.handle(request))

    def tick(self, now: float) -> list[bytes]:
        self.inverter.step()  # keeps the energy ledger's days right between queries
        return []

    def corrupt(self, reply: bytes) -> bytes:
        # Flip bit 0 of the first payload byte: printable ASCII stays printable (never `\r`),
        # so the frame still ends where it should and only the CRC disagrees.
        return reply[:1] + bytes([reply[1] ^ 0x01]) + reply[2:] if len(reply) > 4 else reply

    def nak(self) -> bytes | None:
        return pi30.reply_frame("NAK")

    def garbage(self, rng: random.Random) -> bytes:
        # Noise up to a `\r` (so a reader sees a bad frame, not a timeout); never a `(` start.
        noise = bytes(rng.choice([*range(0x01, 0x0D), *range(0x0E, 0x28), *range(0x29, 0x100)]) for _ in range(12))
        return noise + b"\r"


# -- command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="solarstack sim inverter",
        description="A virtual PI30 (or PI18, PI17, PI16, PI41) inverter on a pty or TCP port, driven by the plant.",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pty; prints its path")
    where.add_argument("--tcp", type=tcp_port, metavar="PORT", help="serve on TCP PORT (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="TCP bind address (default 127.0.0.1)")
    p.add_argument("--link", help="with --pty: keep a symlink at this path (survives a simulated unplug)")
    p.add_argument("--hid-reports", action="store_true", help="reply in zero-padded 8-byte USB-HID reports")
    p.add_argument("--report-interval", type=float, default=0.008, help="seconds between HID reports")
    p.add_argument("--baud", type=int, help="pace replies at this serial speed (e.g. 2400: ~4.2 ms a byte)")
    p.add_argument("--slow", action="store_true", help="same as --baud 2400")
    p.add_argument("--latency", type=float, default=0.0, help="device think time before replying, seconds")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="MODE[:N|@P]",
        help="crc|nak|silence|garbage|disconnect on every reply; :N only the next N, @P that share of replies",
    )
    p.add_argument("--control", type=tcp_port, metavar="PORT", help="control port (line protocol; see sim/control.py)")
    p.add_argument("--seed", type=int, default=1, help="plant model seed (same seed, same day)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--start", help="simulated start time, ISO 8601 (default: now)")
    p.add_argument("--utc-offset", type=float, default=0.0, help="local time zone of the sun and the house, hours")
    p.add_argument("--bump-zero", action="store_true", help="reply CRCs also bump 0x00 (the other firmware rule)")
    p.add_argument(
        "--protocol", choices=PROTOCOLS, default="pi30", help="the inverter family on the wire (default pi30)"
    )
    p.add_argument(
        "--units",
        type=int,
        default=1,
        metavar="N",
        help="PI30 and PI18: a parallel system of N units (2..9), QPGS0..N-1 (PGS0..N-1) answering for each"
        " (default 1)",
    )
    p.add_argument(
        "--variant",
        choices=tuple(pi30.VARIANTS),
        help="PI30: a firmware variant whose QPIGS/QPIRI/… layouts the replies take (default: plain PI30)",
    )
    return p


#: The families this simulator speaks (`--protocol`).
PROTOCOLS = ("pi30", "pi18", "pi17", "pi16", "pi41")
#: The families whose simulator can be the master of a parallel system (`--units`).
PARALLEL_PROTOCOLS = ("pi30", "pi18")


def build(args: argparse.Namespace) -> tuple[StreamServer, Pi30Inverter]:
    """The PI30 server and device for parsed arguments (see build_any for `--protocol`)."""
    server, inverter = build_any(args)
    if not isinstance(inverter, Pi30Inverter):
        raise ValueError(f"build() serves PI30; --protocol {args.protocol} needs build_any()")
    return server, inverter


def build_any(args: argparse.Namespace) -> tuple[StreamServer, Answers]:
    """The server and device for parsed arguments (endpoints not yet added)."""
    tz = timezone(timedelta(hours=args.utc_offset)) if args.utc_offset else UTC
    start = datetime.fromisoformat(args.start) if args.start else None
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=tz)
    plant = Plant(seed=args.seed, speed=args.speed, start=start, config=PlantConfig(tz=tz))
    inverter: Answers
    session: Callable[[], Pi30Session]
    protocol = getattr(args, "protocol", "pi30")
    units = getattr(args, "units", 1)
    variant = getattr(args, "variant", None)
    if variant and protocol != "pi30":
        raise ValueError(f"--variant is a PI30 variant (got --protocol {protocol})")
    if units != 1 and protocol not in PARALLEL_PROTOCOLS:
        raise ValueError(f"--units is simulated for --protocol {'/'.join(PARALLEL_PROTOCOLS)} only (got {protocol})")
    # the family modules import this one: not at the top
    if protocol == "pi18":
        from solarstack.sim.pi18 import Pi18Inverter, Pi18Session

        pi18_unit = Pi18Inverter(plant, bump_zero=args.bump_zero, units=units)
        inverter, session = pi18_unit, lambda: Pi18Session(pi18_unit)
    elif protocol == "pi17":
        from solarstack.sim.pi17 import Pi17Inverter, Pi17Session

        pi17_unit = Pi17Inverter(plant)
        inverter, session = pi17_unit, lambda: Pi17Session(pi17_unit)
    elif protocol == "pi16":
        from solarstack.sim.pi16 import Pi16Inverter, Pi16Session

        pi16_unit = Pi16Inverter(plant)
        inverter, session = pi16_unit, lambda: Pi16Session(pi16_unit)
    elif protocol == "pi41":
        from solarstack.sim.pi41 import Pi41Inverter, Pi41Session, split_phase

        split = Plant(seed=args.seed, speed=args.speed, start=start, config=split_phase(tz))  # 120 V, 60 Hz
        pi41_unit = Pi41Inverter(split, bump_zero=args.bump_zero)
        inverter, session = pi41_unit, lambda: Pi41Session(pi41_unit)
    else:
        pi30_unit = Pi30Inverter(plant, bump_zero=args.bump_zero, units=units, variant=variant)
        inverter, session = pi30_unit, lambda: Pi30Session(pi30_unit)
    pacing = Pacing(
        baud=2400 if args.slow else args.baud,
        report_size=8 if args.hid_reports else None,
        report_interval=args.report_interval,
        latency=args.latency,
    )
    server = StreamServer(session, pacing=pacing, tick=1.0, control_hook=_control(inverter), seed=args.seed)
    for text in args.fault:
        fault, count = parse_fault(text)
        server.set_fault(fault, count)
    return server, inverter


def _control(inverter: Answers) -> Callable[[str], str]:
    def hook(line: str) -> str:
        words = line.split()
        if words[0] == "state":
            s = inverter.plant.snapshot()
            return (
                f"ok time={s.time.isoformat()} mode={s.mode} soc={s.soc:.1f} pv_w={s.pv_power_w:.0f}"
                f" load_w={s.load_power_w:.0f} requests={inverter.requests} naks={inverter.naks}"
                f" setters={inverter.setters}"
            )
        if words[0] == "energy":
            # The plant's exact integrals (simulated time) now, for harnesses that check a
            # reader's counters against the truth (src/solarstack/soak/); `clock` is the wall
            # time of the reading, so a caller can line it up with readings' `ts`.
            s = inverter.step()
            return (
                f"ok clock={time.time():.3f} time={s.time.isoformat()} speed={inverter.plant.speed:g}"
                f" pv_kwh={s.pv_energy_kwh:.6f} load_kwh={s.load_energy_kwh:.6f} grid_kwh={s.grid_energy_kwh:.6f}"
                f" charge_kwh={s.charge_energy_kwh:.6f} discharge_kwh={s.discharge_energy_kwh:.6f}"
            )
        return f"error unknown command {words[0]!r}"

    return hook


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        setup_logging_from(os.environ)
    except ConfigError as exc:
        print(f"solarstack sim inverter: {exc}", file=sys.stderr)
        return 2
    try:
        server, _ = build_any(args)
        first = server.add_pty(args.link) if args.pty else f"tcp://{args.host}:{server.add_tcp(args.host, args.tcp)}"
        control = server.add_control(args.host, args.control) if args.control is not None else None
    except (ValueError, OSError) as exc:
        print(f"solarstack sim inverter: {exc}", file=sys.stderr)
        return 2
    print(first, flush=True)
    if control is not None:
        print(f"control tcp://{args.host}:{control}", flush=True)

    server.serve_until_signal()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
