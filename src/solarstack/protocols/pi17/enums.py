"""Protocols layer (PI17): enum maps and flag letters — data only.

Raw reply text -> stable snake_case label. Labels double as the values a setting
accepts (setters.py), so a select entity reads back exactly what it wrote. Where a PI17
choice means what a PI30 or PI18 one means, it carries that label (`idle` / `charge` /
`discharge`, `battery_load_utility`, `transformerless`, `hybrid`), so consumers see one
word for one meaning across the family.
Sources: the "Infini-Solar 5KW protocol" PDF (2016-03-09) and the "Infini-Solar WP LV6K /
3P 10-15K / TWIN protocol" PDF (2022-09-21), both kept in jblance/mpp-solar
docs/protocols/; jblance/mpp-solar mppsolar/protocols/pi17.py for what units send.
"""

from __future__ import annotations

from solarstack.protocols.pi18.enums import BATTERY_DIRECTION, CONVERTER_DIRECTION, LINE_DIRECTION, TOPOLOGY
from solarstack.protocols.pi30.enums import MACHINE_TYPE, frozen

__all__ = [
    "BATTERY_DIRECTION",
    "BATTERY_TYPE",
    "CHARGE_STAGE",
    "CONVERTER_DIRECTION",
    "ENERGY_FLAGS",
    "FLAG_LETTERS",
    "GEN_PORT",
    "LINE_DIRECTION",
    "MACHINE_TYPE",
    "MODE",
    "MODEL",
    "OUTPUT_PHASE_ANGLE",
    "SETTABLE_FLAGS",
    "SOLAR_POWER_PRIORITY",
    "TOPOLOGY",
    "WARNINGS",
]

# MOD answers two digits; 00-05 are PI18's modes with PI18's labels, 06 is PI17's own.
MODE = frozen(
    {
        "00": "power_on",
        "01": "standby",
        "02": "bypass",
        "03": "battery",
        "04": "fault",
        "05": "hybrid",  # "Hybrid mode (Line mode, Grid mode)"
        "06": "charge",
    }
)

#: MD's machine number (2022 PDF; the 2016 PDF lists only 000).
MODEL = frozen(
    {
        "000": "infini_solar_10kw_3p",
        "001": "infini_solar_15kw_3p",
        "002": "infini_solar_15kw_3p_custom",
        "003": "infini_solar_wp",
        "004": "infini_solar_wp_30kw_3p",
        "005": "infini_solar_wp_lv_6kw_2p",
        "006": "infini_solar_wp_twin",
    }
)

# Not PI30's list: PI17 knows only these two (BATS field K, setter BTn).
BATTERY_TYPE = frozen({"0": "ordinary", "1": "lifepo4"})

# HECS field AA and setter SEPnn: where solar power goes first. PI18's PSP has the first two
# under the same labels; the third is PI17's own.
SOLAR_POWER_PRIORITY = frozen(
    {"00": "battery_load_utility", "01": "load_battery_utility", "02": "load_utility_battery"}
)

# PIRI field OO (2022 PDF: WP series). One or two digits: both spellings are listed.
_STAGES = {"0": "discharge", "1": "cv", "2": "float", "3": "cc"}
CHARGE_STAGE = frozen({**_STAGES, **{f"0{raw}": label for raw, label in _STAGES.items()}})

GEN_PORT = frozen({"0": "disabled", "1": "output", "2": "generator_input", "3": "ac_coupling"})

OUTPUT_PHASE_ANGLE = frozen({"1": "120", "2": "180"})

#: WS fields in reply order (the 2016 PDF's A..V; the 2022 PDF adds W and X). Every one is
#: an alarm except equalisation, which is a state (commands.py marks it so).
WARNINGS: tuple[str, ...] = (
    "pv_loss",
    "pv2_loss",
    "pv_voltage_high",
    "pv2_voltage_high",
    "battery_under",
    "battery_low",
    "battery_open",
    "battery_voltage_high",
    "battery_low_hybrid",
    "grid_voltage_high",
    "grid_voltage_low",
    "grid_frequency_high",
    "grid_frequency_low",
    "grid_average_voltage_high",
    "ac_input_voltage_loss",
    "ac_input_frequency_loss",
    "islanding",
    "phase_sequence_error",
    "over_temperature",
    "overload",
    "emergency_power_off",
    "ac_input_waveform_loss",
    "equalization_active",  # W: "Equalization states" (2022)
    "rapid_shutdown_active",  # X: an external rapid shutdown is triggered (2022)
)

#: FLAG fields A..M in reply order and the letter PE/PD name each by (`^S004PEA`). A..F
#: are in both PDFs; G..M are the 2022 PDF's. The two sources part from N on (the PDF:
#: external CT relay, PV parallel, AC output coupling …; mpp-solar: PV parallel, GFCI,
#: generator charging), so fields from N on are kept raw as `extra_<pos>`.
FLAG_LETTERS: tuple[tuple[str, str], ...] = (
    ("A", "mute_buzzer"),
    ("B", "mute_buzzer_standby"),
    ("C", "mute_buzzer_on_battery"),
    ("D", "generator_as_ac_input"),
    ("E", "wide_ac_input_range"),
    ("F", "ng_relay"),
    ("G", "derating_for_grid_voltage"),
    ("H", "derating_for_grid_frequency"),
    ("I", "bms_battery_connect"),
    ("J", "low_frequency_derating"),
    ("K", "low_voltage_ride_through"),
    ("L", "high_voltage_ride_through"),
    ("M", "charge_power_limit"),
)

#: The flags offered as settings: the 2016 PDF's set (A..F), which both PDFs agree on.
SETTABLE_FLAGS: tuple[tuple[str, str], ...] = FLAG_LETTERS[:6]

#: HECS fields B..H and the letter `ED<letter><0|1>` sets each by (`^S005EDA1`).
ENERGY_FLAGS: tuple[tuple[str, str], ...] = (
    ("A", "solar_charge_battery"),
    ("B", "ac_charge_battery"),
    ("C", "feed_to_grid"),
    ("D", "battery_to_load_when_solar_ok"),
    ("E", "battery_to_load_when_solar_lost"),
    ("F", "battery_to_grid_when_solar_ok"),
    ("G", "battery_to_grid_when_solar_lost"),
)
