"""Simulators: a virtual PI18 inverter on its real wire format, driven by the plant model.

`solarstack sim inverter --protocol pi18 …` (sim/inverter.py: the same options, transport,
pacing, faults and control port as the PI30 simulator). Replies are built with the PI18
codec (`format_fields`, `reply_frame`, `ack_frame`), but what the device *does* is this
module's own:

  * a request is `^P` (query) or `^S` (setter), three digits of length that must equal the
    text's length + 3, the text, a CRC under either adjustment rule, `\\r`; anything else,
    an unknown command, a query sent as `^S` or a setter as `^P` is answered `^0`;
  * every query the codec knows is answered from the plant's state; PGS0 only for a single
    unit, PGS0..N-1 for the master of a parallel system of N (`--units N`, each unit its
    share of the plant as in the PI30 simulator's `unit_view`, PGSn's totals their sums);
  * setters follow the unit's own rules — the InfiniSolar V PDF's ranges for a 48 V unit,
    re-charge / re-discharge only from the PDF's lists, charge currents only from its own
    MCHGCR / MUCHGCR lists, machine number 0 — and a float voltage above the bulk
    voltage is refused (as the units' front panel refuses it; our setter code does not
    check it, so a test sees a NAK from the device, not a refusal before the wire).

`setter_log` records the setter frames that arrived and whether each was ACKed. A session
splits requests at `\\r` as the PI30 one does (sim/inverter.py); faults look like PI18's
(`^0`, a flipped payload byte). Must not import devices/ or services/.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import date

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Value
from solarstack.protocols import pi18
from solarstack.protocols.pi18 import enums
from solarstack.protocols.pi30 import crc
from solarstack.sim.inverter import Pi30Session, Refused, WireCount, pv_shares, single_unit, unit_view
from solarstack.sim.plant import ChargerPriority, Mode, OutputPriority, Plant, PlantState

SERIAL = "96342208106521"
NOMINAL = 48.0
CHARGE_CURRENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
UTILITY_CHARGE_CURRENTS = (2, 10, 20, 30, 40, 50, 60)
#: Re-charge and re-discharge voltages a 48 V unit takes (PDF, BUCD); 0 re-discharge = full.
RECHARGE_48 = tuple(float(v) for v in range(44, 52))
REDISCHARGE_48 = (0.0, *(float(v) for v in range(48, 59)))
#: Linear voltage ranges of a 48 V unit: setting -> (low, high).
BULK_FLOAT_48 = (48.0, 58.4)
CUT_OFF_48 = (40.0, 48.0)

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
    "battery_redischarge_voltage": 52.0,
    "battery_under_voltage": 42.0,
    "battery_bulk_voltage": 56.4,
    "battery_float_voltage": 54.0,
    "battery_type": "user",
    "max_ac_charging_current": 30,
    "max_charging_current": 60,
    "input_voltage_range": "appliance",
    "output_source_priority": "solar_battery_utility",
    "charger_source_priority": "solar",
    "max_parallel_units": 6,
    "machine_type": "off_grid",
    "topology": "transformerless",
    "output_mode": "single",
    "solar_power_priority": "load_battery_utility",
    "mppt_strings": 2,
    "extra_25": "00",  # every recorded unit sends this 26th field
}
DEFAULT_FLAGS: Mapping[str, bool] = {
    "buzzer": True,
    "overload_bypass": True,
    "lcd_return_to_default": True,
    "overload_restart": False,
    "over_temperature_restart": False,
    "backlight": True,
    "primary_source_interrupt_alarm": True,
    "fault_code_record": False,
}
_OUTPUT = {
    "solar_utility_battery": OutputPriority.SOLAR,  # PI30's "solar first": utility before battery
    "solar_battery_utility": OutputPriority.SBU,
}
_CHARGER = {
    "solar": ChargerPriority.SOLAR,
    "solar_and_utility": ChargerPriority.SOLAR_UTILITY,
    "solar_only": ChargerPriority.SOLAR_ONLY,
}
_MODE = {Mode.LINE: "hybrid", Mode.BATTERY: "battery", Mode.FAULT: "fault"}
#: The plant's warning names -> FWS flags (the plant names them as PI30's QPIWS does).
_FWS = {
    "line_fail": "line_fail",
    "battery_low": "battery_low",
    "battery_under_shutdown": "battery_under",
    "overload": "overload",
    "over_temperature": "over_temperature",
    "fan_locked": "fan_locked",
}
#: Single-digit selector setters: command -> (PIRI field, its options).
SELECT_SETTERS: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "POP": ("output_source_priority", enums.OUTPUT_SOURCE_PRIORITY),
    "PSP": ("solar_power_priority", enums.SOLAR_POWER_PRIORITY),
    "PGR": ("input_voltage_range", enums.INPUT_VOLTAGE_RANGE),
    "PBT": ("battery_type", {k: v for k, v in enums.BATTERY_TYPE.items() if k in "012"}),
}


class Pi18Inverter(WireCount):
    """The virtual PI18 device: settings, flags, PV energy ledger and the plant it runs on.

    One instance is shared by every connection (a TCP reconnect sees the same settings).
    """

    def __init__(self, plant: Plant, *, serial: str = SERIAL, bump_zero: bool = False, units: int = 1) -> None:
        if not 1 <= units <= 9:
            raise ValueError(f"--units {units}: a parallel system has 2 to 9 units (PGS0..PGS8)")
        self.plant = plant
        self.units = units
        self.pv_shares = pv_shares(units)
        self.serial = serial
        self.bump_zero = bump_zero
        self.settings: dict[str, Value] = dict(DEFAULT_SETTINGS)
        self.flags: dict[str, bool] = dict(DEFAULT_FLAGS)
        self.pv_wh: dict[date, float] = {}
        self._last_pv_kwh = 0.0
        WireCount.__init__(self)
        self._sync_plant()

    # -- wire level ----------------------------------------------------------------------

    def handle(self, request: bytes) -> bytes:
        """One request frame (up to its `\\r`) -> the reply frame."""
        self.requests += 1
        setter = False
        text = ""
        try:
            kind, text = _unframe(request)
            spec = pi18.lookup(text)  # ConfigError: unknown -> ^0
            setter = not spec.read_only
            if setter != (kind == "S"):
                raise Refused(f"{text} sent as ^{kind}")
            if setter:
                self.apply(spec.name, text[len(spec.name) :])
                reply = pi18.ack_frame(True)
            else:
                payload = pi18.format_fields(text, self.query(spec.name, text))
                reply = pi18.reply_frame(payload, bump_zero=self.bump_zero)
        except (Refused, ConfigError, ValueError, KeyError):
            # ValueError/KeyError: an argument the pattern let through but this unit cannot take.
            reply = pi18.ack_frame(False)
        self.counted(text, setter=setter, refused=reply == pi18.ack_frame(False))
        return reply

    # -- queries -------------------------------------------------------------------------

    def step(self) -> PlantState:
        state = self.plant.step()
        day = state.time.date()
        self.pv_wh[day] = self.pv_wh.get(day, 0.0) + (state.pv_energy_kwh - self._last_pv_kwh) * 1000
        self._last_pv_kwh = state.pv_energy_kwh
        return state

    def query(self, name: str, command: str) -> dict[str, Value]:
        s = self.step()
        if name == "GS":
            return self._gs(s)
        if name == "MOD":
            return {"mode": _MODE[s.mode]}
        if name == "FWS":
            return self._fws(s)
        if name == "PIRI":
            return dict(self.settings)
        if name == "FLAG":
            return dict(self.flags)
        if name == "PI":
            return {"protocol_id": "18"}
        if name == "ID":
            return {"serial_number": self.serial}
        if name == "VFW":
            return {"main_cpu_firmware": "05220", "secondary_cpu_firmware": "05220", "tertiary_cpu_firmware": "00000"}
        if name == "T":
            return {"device_time": s.time.strftime("%Y%m%d%H%M%S")}
        if name == "MCHGCR":
            return {"charging_current_options": list(CHARGE_CURRENTS)}
        if name == "MUCHGCR":
            return {"utility_charging_current_options": list(UTILITY_CHARGE_CURRENTS)}
        if name == "PGSn":
            unit = int(command[3:])
            if unit >= self.units:
                raise Refused("single unit: only PGS0" if self.units == 1 else f"no unit {unit} in this system")
            return self._pgs(s, unit)
        if name == "ET":
            return {"pv_energy_total": float(int(sum(self.pv_wh.values()) / 1000))}  # whole kWh
        if name in ("EYyyyy", "EMyyyymm", "EDyyyymmdd"):
            digits = command[2:]
            wh = sum(v for d, v in self.pv_wh.items() if d.strftime("%Y%m%d").startswith(digits))
            key = {"EYyyyy": "pv_energy_year", "EMyyyymm": "pv_energy_month", "EDyyyymmdd": "pv_energy_day"}[name]
            return {key: round(wh) / 1000.0}
        raise Refused(f"{name} not simulated")

    def _gs(self, s: PlantState) -> dict[str, Value]:
        volts = round(s.battery_voltage, 1)
        charging, discharging = s.battery_current > 0.5, s.battery_current < -0.5
        return {
            "ac_input_voltage": round(s.grid_voltage, 1),
            "ac_input_frequency": round(s.grid_frequency, 1),
            "ac_output_voltage": round(s.output_voltage, 1),
            "ac_output_frequency": round(s.output_frequency, 1),
            "ac_output_apparent_power": round(s.load_apparent_va),
            "ac_output_active_power": round(s.load_power_w),
            "ac_output_load": round(s.load_percent),
            "battery_voltage": volts,
            "battery_voltage_scc": volts if s.pv_power_w > 0 else 0.0,
            "battery_voltage_scc2": 0.0,
            "battery_discharge_current": round(max(0.0, -s.battery_current)),
            "battery_charging_current": round(max(0.0, s.battery_current)),
            "battery_capacity": round(s.soc),
            "heat_sink_temperature": round(s.inverter_celsius),
            "mppt_charger_temperature": round(s.inverter_celsius - 3),
            "mppt2_charger_temperature": 0,
            "pv_input_power": round(s.pv_power_w),
            "pv2_input_power": 0,
            "pv_input_voltage": round(s.pv_voltage, 1),
            "pv2_input_voltage": 0.0,
            "configuration_changed": False,
            "mppt_charger_status": "charging" if s.charging_from_pv else "not_charging",
            "mppt2_charger_status": "not_charging",
            "load_on": s.load_power_w > 0,
            "battery_power_direction": "charge" if charging else "discharge" if discharging else "idle",
            "converter_power_direction": "dc_to_ac" if s.mode is Mode.BATTERY else "ac_to_dc" if charging else "idle",
            "line_power_direction": "input" if s.grid_power_w > 0 else "idle",
            "parallel_id": 0,
        }

    def _fws(self, s: PlantState) -> dict[str, Value]:
        values: dict[str, Value] = {"fault_code": "01" if s.mode is Mode.FAULT else "00"}
        flagged = {_FWS[w] for w in s.warnings if w in _FWS}
        values.update({key: key in flagged for key in enums.FWS_FLAGS})
        return values

    def _pgs(self, whole: PlantState, unit: int = 0) -> dict[str, Value]:
        """Unit `unit`'s share of the plant (all of it for a single unit), with the system's totals."""
        s = whole if self.units == 1 else unit_view(whole, self.pv_shares, unit)
        g = self._gs(s)
        units = [self._gs(unit_view(whole, self.pv_shares, n)) for n in range(self.units)] if self.units > 1 else [g]

        def total(key: str) -> int:  # what every unit reports, as the wire's whole numbers
            return sum(round(v) for u in units if isinstance(v := u[key], int | float))

        same = (
            "ac_input_voltage",
            "ac_input_frequency",
            "ac_output_voltage",
            "ac_output_frequency",
            "ac_output_apparent_power",
            "ac_output_active_power",
            "ac_output_load",
            "battery_voltage",
            "battery_discharge_current",
            "battery_charging_current",
            "battery_capacity",
            "pv_input_power",
            "pv2_input_power",
            "pv_input_voltage",
            "pv2_input_voltage",
            "mppt_charger_status",
            "mppt2_charger_status",
            "load_on",
            "battery_power_direction",
            "converter_power_direction",
            "line_power_direction",
        )
        return {
            "parallel_valid": True,
            "mode": _MODE[s.mode],
            "fault_code": "00",
            **{k: g[k] for k in same},
            "total_ac_output_apparent_power": total("ac_output_apparent_power"),
            "total_ac_output_active_power": total("ac_output_active_power"),
            "total_ac_output_load": total("ac_output_load"),
            "total_charging_current": total("battery_charging_current"),
            "max_temperature": g["heat_sink_temperature"],
        }

    # -- setters -------------------------------------------------------------------------

    def apply(self, name: str, arg: str) -> None:
        """Apply one setter (text already matched the command's pattern) or raise Refused."""
        factor = float(self.settings["rated_battery_voltage"] or NOMINAL) / 48.0  # type: ignore[arg-type]
        if name in SELECT_SETTERS:
            key, options = SELECT_SETTERS[name]
            if arg not in options:
                raise Refused(f"{name}{arg}: not one of {', '.join(options)}")
            self.settings[key] = options[arg]
        elif name == "PCP":
            unit, _, code = arg.partition(",")
            single_unit(unit)
            self.settings["charger_source_priority"] = enums.CHARGER_SOURCE_PRIORITY[code]
        elif name in ("MCHGC", "MUCHGC"):
            unit, _, digits = arg.partition(",")
            single_unit(unit)
            utility = name == "MUCHGC"
            amps = int(digits)
            if amps not in (UTILITY_CHARGE_CURRENTS if utility else CHARGE_CURRENTS):
                raise Refused(f"{name}: {amps} A not offered")
            self.settings["max_ac_charging_current" if utility else "max_charging_current"] = amps
        elif name == "MCHGV":
            bulk, floating = (int(v) / 10 for v in arg.split(","))
            _within(name, bulk, BULK_FLOAT_48, factor)
            _within(name, floating, BULK_FLOAT_48, factor)
            if floating > bulk:
                raise Refused(f"MCHGV: float {floating} V above bulk {bulk} V")
            self.settings["battery_bulk_voltage"], self.settings["battery_float_voltage"] = bulk, floating
        elif name == "PSDV":
            volts = int(arg) / 10
            _within(name, volts, CUT_OFF_48, factor)
            self.settings["battery_under_voltage"] = volts
        elif name == "BUCD":
            recharge, redischarge = (int(v) / 10 for v in arg.split(","))
            if factor != 1.0 or recharge not in RECHARGE_48 or redischarge not in REDISCHARGE_48:
                raise Refused(f"BUCD {recharge},{redischarge}: not listed for a 48 V unit")
            self.settings["battery_recharge_voltage"] = recharge
            self.settings["battery_redischarge_voltage"] = redischarge
        elif name in ("PE", "PD"):
            self.flags[dict(enums.FLAG_LETTERS)[arg]] = name == "PE"
        else:
            raise Refused(f"{name} not simulated")
        self._sync_plant()

    def _sync_plant(self) -> None:
        s = self.settings
        self.plant.set_controls(
            output_priority=_OUTPUT[str(s["output_source_priority"])],
            charger_priority=_CHARGER[str(s["charger_source_priority"])],
            back_to_grid_voltage=s["battery_recharge_voltage"],
            back_to_battery_voltage=s["battery_redischarge_voltage"],
            cutoff_voltage=s["battery_under_voltage"],
            bulk_voltage=s["battery_bulk_voltage"],
            float_voltage=s["battery_float_voltage"],
            max_charging_current=float(s["max_charging_current"]),  # type: ignore[arg-type]
            max_utility_charging_current=float(s["max_ac_charging_current"]),  # type: ignore[arg-type]
        )


def _unframe(request: bytes) -> tuple[str, str]:
    """(`P` or `S`, command text) of a well-formed request, else Refused."""
    if len(request) < 9 or request[:1] != b"^" or request[1:2] not in (b"P", b"S") or not request.endswith(b"\r"):
        raise Refused("not a PI18 request")
    body, received = request[:-3], request[-3:-1]
    if not crc.check(body, received):
        raise Refused("bad request CRC")
    length, text = body[2:5], body[5:]
    if not length.isdigit() or int(length) != len(text) + 3:
        raise Refused(f"length {length!r} does not fit {len(text)} bytes of text")
    return request[1:2].decode(), text.decode("ascii")


def _within(name: str, volts: float, bounds: tuple[float, float], factor: float) -> None:
    lo, hi = round(bounds[0] * factor, 1), round(bounds[1] * factor, 1)
    if not lo <= volts <= hi:
        raise Refused(f"{name}: {volts} V outside {lo}-{hi} V")


class Pi18Session(Pi30Session):
    """One client conversation (requests end at `\\r`, as on PI30); PI18's faults."""

    def corrupt(self, reply: bytes) -> bytes:
        # Flip bit 0 of the first payload byte (`^Dnnn` + payload), or of `1` in `^1`: digits
        # and letters stay printable (never `\r`), so only the CRC disagrees.
        i = 5 if reply.startswith(b"^D") and len(reply) > 8 else 1
        return reply[:i] + bytes([reply[i] ^ 0x01]) + reply[i + 1 :] if len(reply) > i + 3 else reply

    def nak(self) -> bytes | None:
        return pi18.ack_frame(False)

    def garbage(self, rng: random.Random) -> bytes:
        # Noise up to a `\r` (a bad frame, not a timeout); never a `^` start.
        noise = bytes(rng.choice([*range(0x01, 0x0D), *range(0x0E, 0x5E), *range(0x5F, 0x100)]) for _ in range(12))
        return noise + b"\r"
