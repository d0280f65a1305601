"""Simulators: a virtual PI41 inverter (LV5048 class) on its real wire format, driven by the
plant model.

`solarstack sim inverter --protocol pi41 …` (sim/inverter.py: the same options, transport,
pacing, faults and control port as the PI30 simulator). A 5 kW split-phase unit, 120 V a
line at 60 Hz (`split_phase`: the plant is built with those mains figures): line 1 and
line 2 share the plant's load (`L1_SHARE`), all PV comes in on PV1 (PV2 reads 0, as PI30's
QPIGS2 in the PI30 simulator). Replies are built with the PI41 codec (`format_fields`,
`reply_frame`: PI30's framing) and PI30's request / reply loop (sim/inverter.py
`CrcInverter`, which also sets the plant's controls from the settings), but what the device
*does* is this module's own:

  * a request is the command text, a CRC under either adjustment rule and `\\r`; a bad CRC,
    an unknown command (PI30's MCHGC, QPIGS's PI30MAX cousins …) is answered `(NAK`;
  * every query the codec knows is answered from the plant's state, a single unit (QPGS0
    and QP2GS0 only);
  * setters follow the LV5048 PDF's rules for a 48 V unit — re-charge / re-discharge only
    from its lists of whole volts, cut-off 40-48 V, bulk and float 48-58.4 V, equalization
    48-61 V, times in steps of 5 min, charge currents only from the unit's own QMCHGCR /
    QMUCHGCR lists, machine number 0 — and a float voltage above the bulk voltage is
    refused (as the unit's panel refuses it; our setter code does not check it, so a test
    sees a NAK from the device, not a refusal before the wire).

`setter_log` records the setter frames that arrived and whether each was ACKed. The
session is PI30's (requests end at `\\r`, `(NAK` and a flipped payload byte as faults).
Must not import devices/ or services/.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo

from solarstack.core.fields import Value
from solarstack.protocols import pi41
from solarstack.protocols.pi41 import enums
from solarstack.sim import inverter as pi30_sim
from solarstack.sim.inverter import CrcInverter, Pi30Session, Refused, single_unit
from solarstack.sim.plant import Mode, Plant, PlantConfig, PlantState

SERIAL = "92911906100045"  # the recorded LV5048's serial (jblance/mpp-solar#11)
NOMINAL = 48.0
CHARGE_CURRENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
UTILITY_CHARGE_CURRENTS = (2, 10, 20, 30, 40)
#: Line 1's share of the plant's load (line 2 takes the rest).
L1_SHARE = 0.6
#: Voltage setters of a 48 V unit: command -> (QPIRI field, the values or (low, high)).
RECHARGE_48 = tuple(float(v) for v in range(44, 52))
REDISCHARGE_48 = (0.0, *(float(v) for v in range(48, 59)))
VOLTAGE_RANGES: Mapping[str, tuple[str, float, float]] = {
    "PSDV": ("battery_under_voltage", 40.0, 48.0),
    "PCVV": ("battery_bulk_voltage", 48.0, 58.4),
    "PBFT": ("battery_float_voltage", 48.0, 58.4),
}
#: Selector setters: command -> (QPIRI field, its options, the digits the unit takes).
SELECT_SETTERS: Mapping[str, tuple[str, Mapping[str, str], str]] = {
    "POP": ("output_source_priority", enums.OUTPUT_SOURCE_PRIORITY, "012"),
    "PCP": ("charger_source_priority", enums.CHARGER_SOURCE_PRIORITY, "0123"),
    "PGR": ("input_voltage_range", enums.INPUT_VOLTAGE_RANGE, "01"),
    "PBT": ("battery_type", enums.BATTERY_TYPE, "012"),
    "POPM": ("output_mode", enums.OUTPUT_MODE, "123456"),
}

DEFAULT_SETTINGS: Mapping[str, Value] = {  # QPIRI: the recorded LV5048's ratings, this unit's settings
    "rated_grid_voltage": 120.0,
    "rated_input_current": 20.8,
    "rated_ac_output_voltage": 120.0,
    "rated_ac_output_frequency": 60.0,
    "rated_ac_output_current": 20.8,
    "rated_ac_output_apparent_power": 2500,
    "rated_ac_output_active_power": 2500,
    "rated_battery_voltage": NOMINAL,
    "battery_recharge_voltage": 46.0,
    "battery_under_voltage": 42.0,
    "battery_bulk_voltage": 56.4,
    "battery_float_voltage": 54.0,
    "battery_type": "agm",
    "max_ac_charging_current": 30,
    "max_charging_current": 60,
    "input_voltage_range": "appliance",
    "output_source_priority": "sbu",
    "charger_source_priority": "solar",
    "max_parallel_units": 9,
    "machine_type": "off_grid",
    "topology": "transformerless",
    "output_mode": "parallel_180",
    "battery_redischarge_voltage": 54.0,
    "pv_ok_condition": "any_unit",
    "pv_power_balance": "charge_plus_load",
    "max_cv_charging_time": 0,
}
DEFAULT_FLAGS: Mapping[str, bool] = {**pi30_sim.DEFAULT_FLAGS, "overload_bypass": False}  # PI30's, bypass off
DEFAULT_EQUALIZATION: Mapping[str, Value] = {  # QBEQI
    "equalization_enabled": False,
    "equalization_time": 60,
    "equalization_period": 720,  # 30 days
    "equalization_max_current": 30,
    "equalization_voltage": 58.4,
    "equalization_over_time": 120,
    "equalization_active": False,
}
_IDENTITY: Mapping[str, Mapping[str, Value]] = {
    "QPI": {"protocol_id": "PI41"},
    "QSID": {"serial_number_long": "14" + SERIAL + "000000"},
    "QVFW": {"main_cpu_firmware": "00072.70"},
    "QVFW2": {"secondary_cpu_firmware": "00041.17"},
    "QMN": {"model_name": "LV5048"},
    "QGMN": {"general_model_number": "026"},
}
_MODE = {Mode.LINE: "line", Mode.BATTERY: "battery", Mode.FAULT: "fault"}
#: What QPGS0 and QP2GS0 (a single unit: its own numbers) repeat of QPIGS and QPIGS2.
_QPGS_FROM_QPIGS = (
    *("ac_input_voltage", "ac_output_voltage", "ac_output_apparent_power", "ac_output_active_power"),
    *("ac_output_load", "battery_charging_current", "battery_capacity", "pv_input_voltage"),
    *("battery_discharge_current", "scc_ok", "ac_charging", "scc_charging", "battery_open"),
    *("battery_under", "line_loss", "load_on", "configuration_changed"),
)
_QP2GS_FROM_QPIGS2 = (
    *("l2_ac_input_voltage", "l2_ac_output_voltage", "l2_ac_output_apparent_power", "l2_ac_output_active_power"),
    *("l2_ac_output_load", "pv2_input_voltage", "pv2_input_current", "scc2_ok", "l2_ac_charging"),
    *("scc2_charging", "l2_line_loss", "l2_load_on"),
)


def split_phase(tz: tzinfo) -> PlantConfig:
    """The plant of a North American split-phase home: 120 V a line, 60 Hz."""
    return PlantConfig(tz=tz, grid_voltage=120.0, grid_frequency=60.0)


class Pi41Inverter(CrcInverter):
    """The virtual PI41 device: settings, flags, equalization and the plant it runs on.

    One instance is shared by every connection (a TCP reconnect sees the same settings).
    """

    def __init__(self, plant: Plant, *, serial: str = SERIAL, bump_zero: bool = False) -> None:
        self.plant = plant
        self.serial = serial
        self.bump_zero = bump_zero
        self.settings: dict[str, Value] = dict(DEFAULT_SETTINGS)
        self.flags: dict[str, bool] = dict(DEFAULT_FLAGS)
        self.equalization: dict[str, Value] = dict(DEFAULT_EQUALIZATION)
        super().__init__()
        self.sync_plant(self.settings)

    # -- codec -------------------------------------------------------------------------

    def lookup(self, command: str) -> pi41.Command:
        return pi41.lookup(command)

    def format_fields(self, command: str, values: Mapping[str, Value]) -> str:
        return pi41.format_fields(command, values)

    # -- queries -------------------------------------------------------------------------

    def step(self) -> PlantState:
        return self.plant.step()

    def query(self, name: str, command: str) -> dict[str, Value]:
        s = self.step()
        if name in _IDENTITY:
            return dict(_IDENTITY[name])
        if name == "QID":
            return {"serial_number": self.serial}
        if name == "QPIGS":
            return self._qpigs(s)
        if name == "QPIGS2":
            return self._qpigs2(s)
        if name == "QMOD":
            return {"mode": _MODE[s.mode]}
        if name == "QPIWS":
            flagged = set(s.warnings) | ({"inverter_fault"} if s.mode is Mode.FAULT else set())
            return {key: key in flagged for _, key in enums.QPIWS_BITS}
        if name == "QPIRI":
            return dict(self.settings)
        if name == "QFLAG":
            return dict(self.flags)
        if name == "QDI":
            return self._qdi()
        if name == "QMCHGCR":
            return {"charging_current_options": list(CHARGE_CURRENTS)}
        if name == "QMUCHGCR":
            return {"utility_charging_current_options": list(UTILITY_CHARGE_CURRENTS)}
        if name == "QOPM":
            return {"output_mode": self.settings["output_mode"]}
        if name == "QBEQI":
            return dict(self.equalization)
        if command in ("QPGS0", "QP2GS0"):  # a single unit: its own numbers
            return self._qpgs(s) if name == "QPGSn" else self._qp2gs(s)
        raise Refused(f"{command}: a single unit answers unit 0 only")

    def _out_v(self, s: PlantState) -> float:
        """A line's output voltage: the mains' in line mode, the rated 120 V from the battery
        (the plant's own battery-mode figure is a 230 V unit's)."""
        if s.mode is Mode.BATTERY:
            return float(self.settings["rated_ac_output_voltage"])  # type: ignore[arg-type]
        return round(s.output_voltage, 1)

    def _lines(self, s: PlantState) -> tuple[float, float, float, float]:
        """(line 1 W, line 1 VA, line 2 W, line 2 VA)."""
        return (
            s.load_power_w * L1_SHARE,
            s.load_apparent_va * L1_SHARE,
            s.load_power_w * (1 - L1_SHARE),
            s.load_apparent_va * (1 - L1_SHARE),
        )

    def _qpigs(self, s: PlantState) -> dict[str, Value]:
        l1_w, l1_va, _, _ = self._lines(s)
        volts = round(s.battery_voltage, 2)
        return {
            "ac_input_voltage": round(s.grid_voltage, 1),
            "ac_input_frequency": round(s.grid_frequency, 1),
            "ac_output_voltage": self._out_v(s),
            "ac_output_frequency": round(s.output_frequency, 1),
            "ac_output_apparent_power": round(l1_va),
            "ac_output_active_power": round(l1_w),
            "ac_output_load": round(l1_va / float(self.settings["rated_ac_output_apparent_power"]) * 100),  # type: ignore[arg-type]
            "bus_voltage": round(s.bus_voltage),
            "battery_voltage": volts,
            "battery_charging_current": round(max(0.0, s.battery_current)),
            "battery_capacity": round(s.soc),
            "heat_sink_temperature": round(s.inverter_celsius),
            "pv_input_current": round(s.pv_power_w / s.battery_voltage) if s.battery_voltage else 0,
            "pv_input_voltage": round(s.pv_voltage, 1),
            "battery_voltage_scc": volts if s.pv_power_w > 0 else 0.0,
            "battery_discharge_current": round(max(0.0, -s.battery_current)),
            "scc_ok": True,
            "ac_charging": s.charging_from_grid,
            "scc_charging": s.charging_from_pv,
            "battery_open": False,
            "battery_under": "battery_low" in s.warnings,
            "line_loss": not s.grid_available,
            "load_on": s.load_power_w > 0,
            "configuration_changed": False,
            "pv_input_power": round(s.pv_power_w),
            "charging_to_float": s.battery_current > 0.5 and s.soc >= 99.0,
            "switched_on": s.mode is not Mode.FAULT,
        }

    def _qpigs2(self, s: PlantState) -> dict[str, Value]:
        _, _, l2_w, l2_va = self._lines(s)
        return {
            "l2_ac_input_voltage": round(s.grid_voltage, 1),
            "l2_ac_input_frequency": round(s.grid_frequency, 1),
            "l2_ac_output_voltage": self._out_v(s),
            "l2_ac_output_frequency": round(s.output_frequency, 1),
            "l2_ac_output_apparent_power": round(l2_va),
            "l2_ac_output_active_power": round(l2_w),
            "l2_ac_output_load": round(l2_va / float(self.settings["rated_ac_output_apparent_power"]) * 100),  # type: ignore[arg-type]
            "pv2_input_current": 0.0,
            "pv2_input_voltage": 0.0,
            "battery_voltage_l2": round(s.battery_voltage, 2),
            "scc2_ok": True,
            "l2_ac_charging": s.charging_from_grid,
            "scc2_charging": False,
            "l2_line_loss": not s.grid_available,
            "l2_load_on": s.load_power_w > 0,
        }

    def _unit(
        self, s: PlantState, line: Mapping[str, Value], carried: tuple[str, ...], prefix: str
    ) -> dict[str, Value]:
        """What QPGSn and QP2GSn (`prefix` `l2_`) both open with, and the values they carry
        over from QPIGS / QPIGS2 (`carried`)."""
        return {
            f"{prefix}parallel_valid": True,
            f"{prefix}serial_number": self.serial,
            f"{prefix}mode": _MODE[s.mode],
            f"{prefix}fault_code": "00",
            **{k: line[k] for k in carried},
            f"{prefix}ac_input_frequency": round(s.grid_frequency, 2),
            f"{prefix}ac_output_frequency": round(s.output_frequency, 2),
        }

    def _qpgs(self, s: PlantState) -> dict[str, Value]:
        q = self._qpigs(s)
        return {
            **self._unit(s, q, _QPGS_FROM_QPIGS, ""),
            "battery_voltage": round(s.battery_voltage, 1),
            "total_charging_current": q["battery_charging_current"],
            "total_ac_output_apparent_power": round(s.load_apparent_va),
            "total_ac_output_active_power": round(s.load_power_w),
            "total_ac_output_load": round(s.load_percent),
            "output_mode": self.settings["output_mode"],
            "charger_source_priority": self.settings["charger_source_priority"],
            "max_charging_current": self.settings["max_charging_current"],
            "max_charging_range": CHARGE_CURRENTS[-1],
            "max_ac_charging_current": self.settings["max_ac_charging_current"],
            "pv_input_current": q["pv_input_current"],
        }

    def _qp2gs(self, s: PlantState) -> dict[str, Value]:
        return {
            **self._unit(s, self._qpigs2(s), _QP2GS_FROM_QPIGS2, "l2_"),
            "battery_voltage_l2": round(s.battery_voltage, 1),
            "l2_battery_charging_current": 0,
            "l2_battery_capacity": round(s.soc),
        }

    def _qdi(self) -> dict[str, Value]:
        d, f = DEFAULT_SETTINGS, DEFAULT_FLAGS
        on = {True: "on", False: "off"}
        return {
            "default_ac_output_voltage": d["rated_ac_output_voltage"],
            "default_ac_output_frequency": d["rated_ac_output_frequency"],
            "default_max_ac_charging_current": d["max_ac_charging_current"],
            "default_battery_under_voltage": d["battery_under_voltage"],
            "default_battery_float_voltage": d["battery_float_voltage"],
            "default_battery_bulk_voltage": d["battery_bulk_voltage"],
            "default_battery_recharge_voltage": d["battery_recharge_voltage"],
            "default_max_charging_current": d["max_charging_current"],
            "default_input_voltage_range": d["input_voltage_range"],
            "default_output_source_priority": d["output_source_priority"],
            "default_charger_source_priority": d["charger_source_priority"],
            "default_battery_type": d["battery_type"],
            "default_buzzer": on[f["buzzer"]],
            "default_power_saving": on[f["power_saving"]],
            "default_overload_restart": on[f["overload_restart"]],
            "default_over_temperature_restart": on[f["over_temperature_restart"]],
            "default_backlight": on[f["backlight"]],
            "default_primary_source_interrupt_alarm": on[f["primary_source_interrupt_alarm"]],
            "default_fault_code_record": on[f["fault_code_record"]],
            "default_overload_bypass": on[f["overload_bypass"]],
            "default_lcd_return_to_default": on[f["lcd_return_to_default"]],
            "default_output_mode": d["output_mode"],
            "default_battery_redischarge_voltage": d["battery_redischarge_voltage"],
            "default_pv_ok_condition": d["pv_ok_condition"],
            "default_pv_power_balance": d["pv_power_balance"],
            "default_max_cv_charging_time": d["max_cv_charging_time"],
        }

    # -- setters -------------------------------------------------------------------------

    def apply(self, name: str, arg: str) -> None:
        """Apply one setter (its text matched the command's pattern) or raise Refused."""
        factor = float(self.settings["rated_battery_voltage"] or NOMINAL) / NOMINAL  # type: ignore[arg-type]
        if name in SELECT_SETTERS:
            key, options, allowed = SELECT_SETTERS[name]
            if arg[:-1] != "0" or arg[-1] not in allowed:
                raise Refused(f"{name}{arg}: not one of {allowed}")
            self.settings[key] = options[arg[-1]]
        elif name == "PBCV":
            self._listed("battery_recharge_voltage", float(arg), RECHARGE_48, factor)
        elif name == "PBDV":
            self._listed("battery_redischarge_voltage", float(arg), REDISCHARGE_48, factor)
        elif name in VOLTAGE_RANGES:
            key, low, high = VOLTAGE_RANGES[name]
            volts = float(arg)
            _within(name, volts, low * factor, high * factor)
            bulk = volts if name == "PCVV" else float(self.settings["battery_bulk_voltage"])  # type: ignore[arg-type]
            floating = volts if name == "PBFT" else float(self.settings["battery_float_voltage"])  # type: ignore[arg-type]
            if floating > bulk:
                raise Refused(f"{name}: float {floating} V above bulk {bulk} V")
            self.settings[key] = volts
        elif name in ("MNCHGC", "MUCHGC"):
            single_unit(arg[0])
            amps = int(arg[1:])
            utility = name == "MUCHGC"
            if amps not in (UTILITY_CHARGE_CURRENTS if utility else CHARGE_CURRENTS):
                raise Refused(f"{name}: {amps} A not offered")
            self.settings["max_ac_charging_current" if utility else "max_charging_current"] = amps
        elif name == "PPCP":
            single_unit(arg[0])
            self.settings["charger_source_priority"] = enums.CHARGER_SOURCE_PRIORITY[arg[2]]
        elif name in ("PE", "PD"):
            by_letter = dict(enums.FLAG_LETTERS)
            for letter in arg:
                self.flags[by_letter[letter]] = name == "PE"
        elif name == "F":
            self.settings["rated_ac_output_frequency"] = float(arg)
        elif name == "PPVOKC":
            self.settings["pv_ok_condition"] = enums.PV_OK_CONDITION[arg]
        elif name == "PSPB":
            self.settings["pv_power_balance"] = enums.PV_POWER_BALANCE[arg]
        elif name == "PCVT":
            self.settings["max_cv_charging_time"] = _steps(name, int(arg), 0, 900)
        elif name == "PBEQE":
            self.equalization["equalization_enabled"] = arg == "1"
        elif name == "PBEQA":
            self.equalization["equalization_active"] = arg == "1"
        elif name == "PBEQT":
            self.equalization["equalization_time"] = _steps(name, int(arg), 5, 900)
        elif name == "PBEQOT":
            self.equalization["equalization_over_time"] = _steps(name, int(arg), 5, 900)
        elif name == "PBEQP":
            days = int(arg)
            if days > 90:
                raise Refused(f"PBEQP: {days} days above 90")
            self.equalization["equalization_period"] = days * 24
        elif name == "PBEQV":
            volts = float(arg)
            _within(name, volts, 48.0 * factor, 61.0 * factor)
            self.equalization["equalization_voltage"] = volts
        elif name == "PF":
            self.settings = dict(DEFAULT_SETTINGS)
            self.flags = dict(DEFAULT_FLAGS)
            self.equalization = dict(DEFAULT_EQUALIZATION)
        else:
            raise Refused(f"{name} not simulated")
        self.sync_plant(self.settings)

    def _listed(self, key: str, volts: float, listed: tuple[float, ...], factor: float) -> None:
        if round(volts / factor, 1) not in listed:
            raise Refused(f"{key}: {volts} V is not one the unit lists")
        self.settings[key] = volts


def _within(name: str, volts: float, low: float, high: float) -> None:
    lo, hi = round(low, 1), round(high, 1)
    if not lo <= volts <= hi:
        raise Refused(f"{name}: {volts} V outside {lo}-{hi} V")


def _steps(name: str, minutes: int, low: int, high: int) -> int:
    if not low <= minutes <= high or minutes % 5:
        raise Refused(f"{name}: {minutes} min not {low}-{high} in steps of 5")
    return minutes


class Pi41Session(Pi30Session):
    """One client conversation: PI30's framing, splitting and faults (`(NAK`, a flipped
    payload byte, noise up to a `\\r`)."""
