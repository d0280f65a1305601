"""Protocols layer (PI16): enum maps and warning-bit names — data only.

Raw reply text -> stable snake_case label, with PI30's or PI18's label where the meaning
is the same (`line`, `battery`, `bypass`, `hybrid`, `charge`, `discharge`). Source:
"Voltronic Power SUNNY protocol" v1.2 (Daniele Pezzini, 2015; NUT's voltronic-sunny notes,
kept as jblance/mpp-solar docs/protocols/PI16_VoltronicPowerSUNNYProtocol.md) and
jblance/mpp-solar mppsolar/protocols/pi16.py.
"""

from __future__ import annotations

from solarstack.protocols.pi30.enums import TOPOLOGY, frozen

__all__ = [
    "BATTERY_STATE",
    "CONVERTER_DIRECTION",
    "LINE_DIRECTION",
    "MACHINE_TYPE",
    "MODE",
    "TOPOLOGY",
    "WARNING_BITS",
]

# QMOD: one letter. B, C, F, G mean more than one state on hybrid models (the notes list
# the conditions); the label names the common one.
MODE = frozen(
    {
        "P": "power_on",
        "S": "standby",
        "Y": "bypass",
        "L": "line",
        "B": "battery",
        "G": "grid",
        "C": "pv_charging",
        "F": "fault",
        "D": "shutdown",
    }
)

# PI30's three plus PI16's "self-use (home solar)".
MACHINE_TYPE = frozen({"00": "grid_tie", "01": "off_grid", "10": "hybrid", "11": "self_use"})

# QPIGS status b4 b3 (PI18/PI17 say `idle` for "no flow"; PI16 means "no battery").
BATTERY_STATE = frozen({"00": "disconnected", "01": "charge", "10": "discharge"})

# QPIGS status b2: PI18/PI17's labels for the same directions.
CONVERTER_DIRECTION = frozen({"0": "dc_to_ac", "1": "ac_to_dc"})

# QPIGS status b1 b0: "00 both taking from and feeding the grid, 01 taking, 10 feeding".
LINE_DIRECTION = frozen({"00": "input_and_output", "01": "input", "10": "output"})

#: QPIWS bits by index from the left (b0 first); bits the notes do not name (20, 21, 25-127)
#: are not reported. Bit 0 says the device has a fault (QPICF tells which).
WARNING_BITS: tuple[tuple[int, str], ...] = (
    (0, "device_fault"),
    (1, "ad_auto_correction"),
    (2, "external_flash_fault"),
    (3, "pv_loss"),
    (4, "pv_voltage_low"),
    (5, "islanding"),
    (6, "cpu_init_error"),
    (7, "grid_voltage_high"),
    (8, "grid_voltage_low"),
    (9, "grid_frequency_high"),
    (10, "grid_frequency_low"),
    (11, "grid_average_voltage_high"),
    (12, "grid_power_required"),
    (13, "emergency_grid_disconnect"),
    (14, "battery_under"),
    (15, "battery_low"),
    (16, "battery_open"),
    (17, "battery_discharge_end"),
    (18, "overload"),
    (19, "emergency_power_off"),
    (22, "over_temperature"),
    (23, "no_ground"),
    (24, "fan_locked"),
)
